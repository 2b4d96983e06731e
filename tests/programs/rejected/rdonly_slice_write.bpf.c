/* Rejected: a read-only dynptr slice is written (a message kptr-lsp's catalogue does not explain: the diagnostic shows the failing path instead). */
/*
 * Verifier (6.18): R0 cannot write into rdonly_mem
 * Fix: take the slice with bpf_dynptr_slice_rdwr() in a program type that may write packets.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
			      __u32 buffer__szk) __ksym;

SEC("tc")
int clear_proto(struct __sk_buff *skb)
{
	struct bpf_dynptr pkt;
	char buf[sizeof(struct ethhdr)] = {};
	struct ethhdr *eth;

	bpf_dynptr_from_skb(skb, 0, &pkt);
	eth = bpf_dynptr_slice(&pkt, 0, buf, sizeof(buf));
	if (!eth)
		return 0;
	eth->h_proto = 0; /* EXPECT: error "cannot write into rdonly_mem" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
