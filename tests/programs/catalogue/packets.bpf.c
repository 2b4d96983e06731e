/* Rejected: packet data handed to a helper that may not read it, and packets written where they are read-only. */
/*
 * Verifier (6.18):
 *   sample_header:  helper access to the packet is not allowed
 *   clear_tos:      cannot write into packet
 *   clear_proto:    the prog does not allow writes to packet data
 * Explained by catalogue entries packet-helper-access, packet-write-direct,
 * packet-write-not-allowed (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
				   __u32 buffer__szk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

SEC("tc")
int sample_header(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + 14 > data_end)
		return 0;
	bpf_perf_event_output(skb, &samples, BPF_F_CURRENT_CPU, data, 14); /* EXPECT: error "helper access to the packet is not allowed" */
	return 0;
}

SEC("cgroup_skb/egress")
int clear_tos(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;

	if ((void *)(ip + 1) > data_end)
		return 1;
	ip->tos = 0; /* EXPECT: error "cannot write into packet" */
	return 1;
}

SEC("cgroup_skb/ingress")
int clear_proto(struct __sk_buff *skb)
{
	struct bpf_dynptr pkt;
	char buf[sizeof(struct ethhdr)] = {};
	struct ethhdr *eth;

	bpf_dynptr_from_skb(skb, 0, &pkt);
	eth = bpf_dynptr_slice_rdwr(&pkt, 0, buf, sizeof(buf)); /* EXPECT: error "the prog does not allow writes to packet data" */
	if (!eth)
		return 1;
	eth->h_proto = 0;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
