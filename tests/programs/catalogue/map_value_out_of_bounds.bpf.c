/* Rejected: a read past the end of a map value. */
/*
 * Verifier (6.18): invalid access to map value, value_size=8 off=8 size=8
 *                  R1 min value is outside of the allowed memory range
 * Explained by catalogue entry map-value-out-of-bounds (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct val {
	__u64 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} stats SEC(".maps");

SEC("xdp")
int read_past_value(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct val *v = bpf_map_lookup_elem(&stats, &key);

	if (!v)
		return XDP_PASS;
	return ((volatile __u64 *)v)[1]; /* EXPECT: error "invalid access to map value, value_size=8 off=8 size=8" */
}

char LICENSE[] SEC("license") = "GPL";
