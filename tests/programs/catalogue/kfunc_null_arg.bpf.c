/* Rejected: a pointer that may be NULL is passed to a kfunc that requires a valid one. */
/*
 * Verifier (6.18): Possibly NULL pointer passed to trusted arg0
 * Explained by catalogue entry kfunc-null-arg (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int BPF_PROG(release_maybe_null, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t = bpf_task_from_pid(task->pid);

	bpf_task_release(t); /* EXPECT: error "Possibly NULL pointer passed to trusted arg0" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
