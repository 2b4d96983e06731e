/* Rejected: a good and a bad program in one file; only the bad program's line gets the error. */
/*
 * Verifier (6.18): xdp_good loads; xdp_bad: R0 invalid mem access 'map_value_or_null'
 * Fix: the same NULL check xdp_good has.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} per_ifindex SEC(".maps");

SEC("xdp")
int xdp_good(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *n;

	n = bpf_map_lookup_elem(&per_ifindex, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_bad(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *n;

	n = bpf_map_lookup_elem(&per_ifindex, &key);
	__sync_fetch_and_add(n, 1); /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
