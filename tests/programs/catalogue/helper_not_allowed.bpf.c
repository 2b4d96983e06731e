/* Rejected: a helper this program type may not call (packet rewriting helpers are for tc, not XDP). */
/*
 * Verifier (6.18): program of this type cannot use helper bpf_skb_store_bytes#9
 * Explained by catalogue entry helper-not-allowed (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int rewrite(struct xdp_md *ctx)
{
	__u8 byte = 0;

	return bpf_skb_store_bytes((void *)ctx, 0, &byte, 1, 0); /* EXPECT: error "program of this type cannot use helper bpf_skb_store_bytes#9" */
}

char LICENSE[] SEC("license") = "GPL";
