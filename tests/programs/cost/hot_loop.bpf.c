/* Accepted: a bounded loop over a histogram in a map value; the verifier walks its body once per slot. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 256

struct hist {
	__u64 slots[MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("tracepoint/sched/sched_switch")
int sum_slots(void *ctx)
{
	__u32 zero = 0;
	struct hist *h;
	__u64 total = 0;

	h = bpf_map_lookup_elem(&hists, &zero);
	if (!h)
		return 0;
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (h->slots[i] > 100) /* HOT */
			total += h->slots[i];
	}
	bpf_printk("total %llu", total);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
