/* Clean: a referenced task kptr is stored with bpf_kptr_xchg and every reference (new and old) is released. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, int);
	__type(value, struct slot);
} newest_child SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash_child, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *acquired, *old;
	struct slot empty = {}, *s;
	int key = task->tgid;

	bpf_map_update_elem(&newest_child, &key, &empty, BPF_NOEXIST);
	s = bpf_map_lookup_elem(&newest_child, &key);
	if (!s)
		return 0;

	acquired = bpf_task_acquire(task);
	if (!acquired)
		return 0;

	old = bpf_kptr_xchg(&s->task, acquired);
	if (old)
		bpf_task_release(old);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(drop_child, struct task_struct *task)
{
	struct task_struct *old;
	struct slot *s;
	int key = task->tgid;

	s = bpf_map_lookup_elem(&newest_child, &key);
	if (!s)
		return 0;

	old = bpf_kptr_xchg(&s->task, NULL);
	if (old)
		bpf_task_release(old);
	bpf_map_delete_elem(&newest_child, &key);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
