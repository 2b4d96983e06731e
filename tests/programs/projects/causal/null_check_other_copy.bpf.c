/* Per-flow and per-host counters looked up together; the code checks the host entry and then
 * updates the flow entry. The verifier rejects the update; the fix belongs on the NULL check,
 * which tested the other lookup's result. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct counters);
} per_flow SEC(".maps"), per_host SEC(".maps");

SEC("tc")
int account(struct __sk_buff *skb)
{
	__u32 flow = skb->hash;
	__u32 host = skb->ifindex;
	struct counters *f, *h;

	f = bpf_map_lookup_elem(&per_flow, &flow);
	h = bpf_map_lookup_elem(&per_host, &host);
	if (!h) /* RELATED: wrong copy */
		return 0;
	h->packets++;
	f->packets++; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
