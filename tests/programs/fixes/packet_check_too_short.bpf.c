/* Rejected: an XDP filter checks the Ethernet header against data_end, then reads the IP header past it. */
/*
 * Verifier (6.18): invalid access to packet, off=23 size=1, R1(id=0,off=23,r=14)
 * Fix: extend the bounds check to cover the IP header before reading it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800

SEC("xdp")
int drop_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if (ip->protocol == IPPROTO_UDP) /* EXPECT: error "invalid access to packet" */
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
