/* Rejected: the Ethernet header is read without checking it lies before data_end. */
/*
 * Verifier (6.18): invalid access to packet, off=12 size=2, R1(id=0,off=12,r=0)
 *                  R1 offset is outside of the packet
 * Explained by catalogue entry packet-bounds (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
int read_eth_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if (eth->h_proto == 0x0008) /* EXPECT: error "invalid access to packet, off=12 size=2, R1(id=0,off=12,r=0)" */
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
