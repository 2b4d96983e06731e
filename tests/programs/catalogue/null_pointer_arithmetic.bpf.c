/* Rejected: arithmetic on a map lookup result before its NULL check. */
/*
 * Verifier (6.18): R6 pointer arithmetic on map_value_or_null prohibited, null-check it first
 * Explained by catalogue entry null-pointer-arithmetic (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64[4]);
} table SEC(".maps");

SEC("xdp")
int bump(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&table, &key);
	__u64 *w = v + (bpf_get_prandom_u32() & 1); /* EXPECT: error "pointer arithmetic on map_value_or_null prohibited, null-check it first" */

	asm volatile("" : "+r"(w));
	if (!w)
		return XDP_PASS;
	*w += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
