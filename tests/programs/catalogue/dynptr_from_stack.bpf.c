/* Rejected: bpf_dynptr_from_mem is given stack memory; it only takes map values. */
/*
 * Verifier (6.18): Unsupported reg type fp for bpf_dynptr_from_mem data
 * Explained by catalogue entry dynptr-from-mem-type (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/task_newtask")
int BPF_PROG(from_stack, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;
	char buf[8] = {};

	bpf_dynptr_from_mem(buf, sizeof(buf), 0, &ptr); /* EXPECT: error "Unsupported reg type fp for bpf_dynptr_from_mem data" */
	bpf_ringbuf_discard_dynptr(&ptr, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
