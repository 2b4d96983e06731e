/* Rejected: a read beyond the end of the program's context structure. */
/*
 * Verifier (6.18): invalid bpf_context access off=160 size=4
 * Explained by catalogue entry ctx-access (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int read_past_ctx(struct xdp_md *ctx)
{
	return ((volatile __u32 *)ctx)[40]; /* EXPECT: error "invalid bpf_context access off=160 size=4" */
}

char LICENSE[] SEC("license") = "GPL";
