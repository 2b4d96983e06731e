/* Rejected: bpf_task_acquire needs a trusted pointer but gets one walked from another struct (task->last_wakee). */
/*
 * Verifier (6.18): R1 must be a rcu pointer
 * (task->last_wakee is a plain pointer field: walking it yields a non-trusted, non-RCU
 * ptr_task_struct, and bpf_task_acquire is KF_RCU.)
 * Fix: acquire a trusted pointer (e.g. `task` itself, or task->real_parent, an __rcu field).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int BPF_PROG(acquire_wakee, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *wakee;
	int pid;

	wakee = bpf_task_acquire(task->last_wakee); /* EXPECT: error "must be a rcu pointer" */
	if (!wakee)
		return 0;

	pid = wakee->pid;
	bpf_task_release(wakee);
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
