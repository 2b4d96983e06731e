/* Rejected: a write to a const volatile global, which lives in a read-only map. */
/*
 * Verifier (6.18): write into map forbidden, value_size=4 off=0 size=4
 * Explained by catalogue entry rodata-write (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile int threshold = 10;

SEC("xdp")
int change_threshold(struct xdp_md *ctx)
{
	*(volatile int *)&threshold = 20; /* EXPECT: error "write into map forbidden, value_size=4 off=0 size=4" */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
