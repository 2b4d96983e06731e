/* Rejected: a task looked up by pid is used without checking for NULL. */
/*
 * Verifier (6.18): R0 invalid mem access 'ptr_or_null_'
 * Explained by catalogue entry pointer-maybe-null (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int init_pid(u64 *ctx)
{
	struct task_struct *t = bpf_task_from_pid(1);
	int pid;

	pid = t->pid; /* EXPECT: error "invalid mem access 'ptr_or_null_'" */
	bpf_task_release(t);
	return pid & 1;
}

char LICENSE[] SEC("license") = "GPL";
