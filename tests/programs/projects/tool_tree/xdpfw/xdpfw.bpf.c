/* Rejected: an XDP port filter whose VLAN tag read lacks a bounds check; its build's -DXDPFW_NO_VLAN leaves that code out. */
// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "xdpfw.h"

#define ETH_P_IP	0x0800
#define ETH_P_8021Q	0x8100

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_RULES);
	__type(key, struct rule_key);
	__type(value, __u8);
} rules SEC(".maps");

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rule_key key = {};
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	proto = eth->h_proto;
#ifndef XDPFW_NO_VLAN
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		/* Missing: if ((void *)(vh + 1) > data_end) return XDP_PASS; */
		key.vlan_id = bpf_ntohs(vh->h_vlan_TCI) & 0x0fff; /* EXPECT: error "invalid access to packet" */
		proto = vh->h_vlan_encapsulated_proto;
	}
#endif
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key.port = 0;
	return bpf_map_lookup_elem(&rules, &key) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
