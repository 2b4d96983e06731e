/* Rejected: two functions that call each other use more than 512 bytes of stack together. */
/*
 * Verifier (6.18): combined stack size of 2 calls is 608. Too large
 * Explained by catalogue entry combined-stack-too-large (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

static __noinline int inner(int n)
{
	volatile char buf[300];

	buf[n & 255] = 1;
	return buf[0];
}

SEC("xdp")
int outer(struct xdp_md *ctx) /* EXPECT: error "combined stack size of 2 calls is 608. Too large" */
{
	volatile char buf[300];

	buf[ctx->ingress_ifindex & 255] = 2;
	return inner(buf[1]); /* MARK */
}

char LICENSE[] SEC("license") = "GPL";
