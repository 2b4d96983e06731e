/* Rejected: bpf_kptr_xchg stores a struct bpf_cpumask pointer into a field declared as struct task_struct __kptr. */
/*
 * Verifier (6.18): invalid kptr access, R2 type=ptr_bpf_cpumask expected=ptr_task_struct
 * Fix: declare the field as `struct bpf_cpumask __kptr *mask;`.
 */
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
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash_mask, struct task_struct *task, u64 clone_flags)
{
	struct bpf_cpumask *mask, *old;
	struct slot *s;
	int key = task->tgid;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;

	mask = bpf_cpumask_create();
	if (!mask)
		return 0;

	old = bpf_kptr_xchg(&s->task, mask); /* EXPECT: error "invalid kptr access, R2 type=ptr_bpf_cpumask expected=ptr_task_struct" */
	if (old)
		bpf_cpumask_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
