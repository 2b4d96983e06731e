/* Rejected: a task reference taken with bpf_task_acquire() leaks on the early-return branch. */
/*
 * Verifier (6.18): Unreleased reference id=N alloc_insn=M
 * Fix: bpf_task_release() the reference before that return.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

#define CLONE_THREAD 0x00010000

SEC("tp_btf/task_newtask")
int BPF_PROG(watch_child, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *parent;
	int tgid;

	parent = bpf_task_acquire(task->real_parent); /* EXPECT: error "Unreleased reference" */
	if (!parent)
		return 0;
	if (clone_flags & CLONE_THREAD) /* a thread: its process was counted already */
		return 0;
	tgid = parent->tgid;
	bpf_task_release(parent);
	return tgid;
}

char LICENSE[] SEC("license") = "GPL";
