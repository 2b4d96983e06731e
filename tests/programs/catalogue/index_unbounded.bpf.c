/* Rejected: a 64-bit index that is never checked is used to index a map value. */
/*
 * Verifier (6.18): math between map_value pointer and register with unbounded min value is not allowed
 * Explained by catalogue entry unbounded-index (kptr_lsp/data/explanations.toml).
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
	__u64 i = bpf_ktime_get_ns();
	struct val *v = bpf_map_lookup_elem(&table, &key);

	if (!v)
		return XDP_PASS;
	v->slots[i] += 1; /* EXPECT: error "math between map_value pointer and register with unbounded min value is not allowed" */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
