/* Rejected: a plain store into a referenced __kptr field; referenced kptrs may only be set with bpf_kptr_xchg. */
/*
 * Verifier (6.18): store to referenced kptr disallowed
 * Fix: old = bpf_kptr_xchg(&s->task, acquired); if (old) bpf_task_release(old);
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash_task, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *acquired;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;

	acquired = bpf_task_acquire(task);
	if (!acquired)
		return 0;

	s->task = acquired; /* EXPECT: error "store to referenced kptr disallowed" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
