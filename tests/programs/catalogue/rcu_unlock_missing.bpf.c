/* Rejected: an RCU read-side section is opened and never closed. */
/*
 * Verifier (6.18): BPF_EXIT instruction in main prog cannot be used inside bpf_rcu_read_lock-ed region
 * Explained by catalogue entry rcu-unlock-missing (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int forgot_unlock(u64 *ctx)
{
	struct task_struct *task = (void *)ctx[0];
	int pid;

	bpf_rcu_read_lock();
	pid = task->pid;
	return pid & 1; /* EXPECT: error "BPF_EXIT instruction in main prog cannot be used inside bpf_rcu_read_lock-ed region" */
}

char LICENSE[] SEC("license") = "GPL";
