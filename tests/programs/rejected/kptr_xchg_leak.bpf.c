/* Rejected: the old pointer returned by bpf_kptr_xchg is a reference that is never released (Unreleased reference). */
/*
 * Verifier (6.18): Unreleased reference id=4 alloc_insn=15
 *                   BPF_EXIT instruction in main prog would lead to reference leak
 * alloc_insn 15 is the bpf_kptr_xchg call; the leaking exit's line_info is the BPF_PROG line.
 * Fix: release `old` with bpf_task_release(old) before returning.
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
int BPF_PROG(swap_task, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct task_struct *acquired, *old;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;

	acquired = bpf_task_acquire(task);
	if (!acquired)
		return 0;

	old = bpf_kptr_xchg(&s->task, acquired); /* EXPECT: error "Unreleased reference" */
	if (old)
		return old->pid;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
