/* Rejected: one static __noinline helper with an error (unchecked map lookup) is called from two programs; both fail on the helper's line. */
/*
 * Verifier (6.18), once per program (xdp_count and tc_count, each loaded alone):
 *   R0 invalid mem access 'map_value_or_null'
 * Both failures land on the same line inside bump().
 * Fix: check n for NULL before the atomic add.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

static __noinline void bump(__u32 key)
{
	__u64 *n;

	n = bpf_map_lookup_elem(&packets, &key);
	__sync_fetch_and_add(n, 1); /* EXPECT: error "invalid mem access 'map_value_or_null'" */
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	bump(ctx->ingress_ifindex);
	return XDP_PASS;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	bump(skb->ifindex);
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "GPL";
