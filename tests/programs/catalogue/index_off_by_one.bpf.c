/* Rejected: an index checked with <= instead of < reaches one past the end of the array. */
/*
 * Verifier (6.18): invalid access to map value, value_size=128 off=128 size=8
 *                  R0 max value is outside of the allowed memory range
 * Explained by catalogue entry map-value-index-too-large (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct val {
	__u64 slots[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} table SEC(".maps");

SEC("xdp")
int bump_slot(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 i = bpf_get_prandom_u32();
	struct val *v = bpf_map_lookup_elem(&table, &key);

	if (!v || i > 16)
		return XDP_PASS;
	v->slots[i] += 1; /* EXPECT: error "invalid access to map value, value_size=128 off=128 size=8" */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
