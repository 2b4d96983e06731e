/* Rejected: a loop whose condition never changes. */
/*
 * Verifier (6.18): infinite loop detected at insn 3
 *                  cur state: R1=0 R10=fp0 fp-8=0000????
 *                  old state: R1=P0 R10=fp0 fp-8=0000????
 * Explained by catalogue entry infinite-loop (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int spin(struct xdp_md *ctx)
{
	volatile int stop = 0;

	while (!stop) /* EXPECT: error "infinite loop detected at insn 3" */
		;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
