/* Rejected: the error is inside a static __noinline subprogram (a map value used without a NULL check), not in the program that calls it. */
/*
 * Verifier (6.18): R0 invalid mem access 'map_value_or_null'
 * The failing instruction is in account() (frame1), verified in the context of xdp_account.
 * Fix: if (!total) return 0; before the update.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} bytes_per_ifindex SEC(".maps");

static __noinline int account(__u32 ifindex, __u32 len)
{
	__u64 *total;

	total = bpf_map_lookup_elem(&bytes_per_ifindex, &ifindex);
	*total += len; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

SEC("xdp")
int xdp_account(struct xdp_md *ctx)
{
	account(ctx->ingress_ifindex, ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
