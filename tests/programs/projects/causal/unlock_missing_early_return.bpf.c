/* A token bucket per flow, refilled and spent under the entry's spin lock, as rate limiters
 * do; the "no tokens left" early return forgets the unlock. The verifier reports the exit
 * (clang merges both returns into one, on the closing brace); the path shows the lock taken
 * and the branch that returns inside it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

struct flow_bucket {
	struct bpf_spin_lock lock;
	__u64 tokens;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct flow_bucket);
} buckets SEC(".maps");

SEC("tc")
int police(struct __sk_buff *skb)
{
	__u32 flow = skb->hash;
	struct flow_bucket *b;

	b = bpf_map_lookup_elem(&buckets, &flow);
	if (!b)
		return TC_ACT_OK;
	bpf_spin_lock(&b->lock); /* RELATED: locked */
	if (b->tokens == 0)
		return TC_ACT_SHOT;
	b->tokens--;
	bpf_spin_unlock(&b->lock);
	return TC_ACT_OK;
} /* EXPECT: error "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region" */

char LICENSE[] SEC("license") = "GPL";
