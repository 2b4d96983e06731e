/* Rejected: a number (here a random value) is dereferenced as if it were a pointer. */
/*
 * Verifier (6.18): R0 invalid mem access 'scalar'
 * Explained by catalogue entry scalar-deref (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int read_random_address(struct xdp_md *ctx)
{
	int *p = (int *)(long)bpf_get_prandom_u32();

	return *p; /* EXPECT: error "invalid mem access 'scalar'" */
}

char LICENSE[] SEC("license") = "GPL";
