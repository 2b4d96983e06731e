/* An XDP dispatcher tail-calling per-protocol handlers through a statically initialised prog array. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * The libbpf idiom for a jump table: `.values = { [IDX] = (void *)&prog }` in a
 * BPF_MAP_TYPE_PROG_ARRAY, filled by libbpf after it has loaded the programs.
 * On kernel 6.18 with libbpf 1.1.2 and 1.4.6, loaded one program per object (as kptr-lsp
 * does to get every program's own verdict), libbpf cannot fill a slot whose program it did
 * not load: `map 'dispatch_table': failed to initialize slot [0] to prog 'handle_ipv4'
 * fd=-2: -9`, and the whole load fails. The verifier never reads the table, and loaded
 * together every program but handle_arp is accepted: only handle_arp may get an Error.
 *   handle_arp: R0 invalid mem access 'map_value_or_null'
 * Fix: check the lookup's result for NULL, as handle_ipv4 does.
 */

#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_ARP	0x0806

enum proto_slot {
	SLOT_IPV4,
	SLOT_IPV6,
	SLOT_ARP,
	SLOT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} proto_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __be32);
	__type(value, __u64);
} arp_senders SEC(".maps");

static __always_inline struct ethhdr *eth_header(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return NULL;
	return eth;
}

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	__u32 slot = SLOT_IPV4;
	__u64 *packets = bpf_map_lookup_elem(&proto_packets, &slot);

	if (packets)
		*packets += 1;
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	__u32 slot = SLOT_IPV6;
	__u64 *packets = bpf_map_lookup_elem(&proto_packets, &slot);

	if (packets)
		*packets += 1;
	return XDP_PASS;
}

SEC("xdp")
int handle_arp(struct xdp_md *ctx)
{
	struct ethhdr *eth = eth_header(ctx);
	__be32 sender = 0;
	__u64 *seen;

	if (!eth)
		return XDP_DROP;
	seen = bpf_map_lookup_elem(&arp_senders, &sender);
	*seen += 1; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return XDP_PASS;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SLOT_MAX);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} dispatch_table SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&handle_ipv4,
		[SLOT_IPV6] = (void *)&handle_ipv6,
		[SLOT_ARP] = (void *)&handle_arp,
	},
};

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
	struct ethhdr *eth = eth_header(ctx);

	if (!eth)
		return XDP_DROP;
	switch (bpf_ntohs(eth->h_proto)) {
	case ETH_P_IP:
		bpf_tail_call(ctx, &dispatch_table, SLOT_IPV4);
		break;
	case ETH_P_IPV6:
		bpf_tail_call(ctx, &dispatch_table, SLOT_IPV6);
		break;
	case ETH_P_ARP:
		bpf_tail_call(ctx, &dispatch_table, SLOT_ARP);
		break;
	}
	/* An empty slot, or a handler that failed to load: let the stack have it. */
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
