/* Rejected: the program context is passed to a helper where a map is expected. */
/*
 * Verifier (6.18): R1 type=ctx expected=map_ptr
 * Explained by catalogue entry helper-wrong-arg (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int lookup_in_ctx(struct xdp_md *ctx)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(ctx, &key) != 0; /* EXPECT: error "type=ctx expected=map_ptr" */
}

char LICENSE[] SEC("license") = "GPL";
