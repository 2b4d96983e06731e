/* Rejected: a loop with a million iterations makes the verifier walk more than a million instructions. */
/*
 * Verifier (6.18): BPF program is too large. Processed 1000001 insn
 * Explained by catalogue entry too-large (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int count_a_lot(struct xdp_md *ctx)
{
	__u64 acc = 0;

	for (int i = 0; i < 1000000; i++) { /* EXPECT: error "BPF program is too large. Processed 1000001 insn" */
		acc += i;
		asm volatile("" : "+r"(acc));
	}
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
