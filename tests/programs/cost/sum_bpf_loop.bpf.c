/* Accepted: a histogram summed with bpf_loop(), whose callback the verifier checks once. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 64

struct hist {
	__u64 slots[MAX_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

struct sum_ctx {
	struct hist *h;
	__u64 total;
};

static long add_slot(__u64 i, struct sum_ctx *c)
{
	if (i >= MAX_SLOTS)
		return 1;
	if (c->h->slots[i] > 100)
		c->total += c->h->slots[i];
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int sum_slots(void *ctx)
{
	__u32 zero = 0;
	struct sum_ctx c = {};

	c.h = bpf_map_lookup_elem(&hists, &zero);
	if (!c.h)
		return 0;
	bpf_loop(MAX_SLOTS, add_slot, &c, 0);
	bpf_printk("total %llu", c.total);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
