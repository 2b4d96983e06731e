/* Rejected: a kfunc this program type may not call. */
/*
 * Verifier (6.18): calling kernel function bpf_task_from_pid is not allowed
 * Explained by catalogue entry kfunc-not-allowed (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("socket")
int socket_task(struct __sk_buff *skb)
{
	struct task_struct *t = bpf_task_from_pid(1); /* EXPECT: error "calling kernel function bpf_task_from_pid is not allowed" */

	if (t)
		bpf_task_release(t);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
