/* Keeps a reference to the newest task of each cgroup in a map, as schedulers written in BPF
 * do; the acquire may fail (the task is exiting) and its result goes to bpf_kptr_xchg()
 * unchecked. The verifier names only the helper's second argument; the fix belongs where the
 * reference is acquired. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

struct newest {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct newest);
} newest_of SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(track_newest, struct task_struct *task, u64 clone_flags)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	struct task_struct *ref, *old;
	struct newest *slot;

	slot = bpf_map_lookup_elem(&newest_of, &cgid);
	if (!slot)
		return 0;
	ref = bpf_task_acquire(task); /* RELATED: acquired */
	old = bpf_kptr_xchg(&slot->task, ref); /* EXPECT: error "Possibly NULL pointer passed to helper arg2" */
	if (old)
		bpf_task_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
