/* Rejected: a cgroup skb program returns a value outside 0..3 (bit 0: allow, bit 1: congestion notification). */
/*
 * Verifier (6.18): At program exit the register R0 has smin=7 smax=7 should have been in [0, 3]
 * Explained by catalogue entry exit-code-range (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("cgroup_skb/egress")
int allow_all(struct __sk_buff *skb)
{
	return 7; /* EXPECT: error "At program exit the register R0 has smin=7 smax=7 should have been in [0, 3]" */
}

char LICENSE[] SEC("license") = "GPL";
