/* A per-CPU scratch pointer kept in a volatile local across the helpers that fill the event,
 * as code does to keep the compiler from re-reading it; its NULL check was dropped in a
 * refactor. The pointer goes to the stack and comes back; the causal path follows it there. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct switch_sample {
	__u64 ts;
	__u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct switch_sample);
} last_sample SEC(".maps");

SEC("tracepoint/sched/sched_switch")
int sample_switch(void *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct switch_sample *volatile s;

	s = bpf_map_lookup_elem(&last_sample, &cpu); /* RELATED: spilled */
	s->ts = bpf_ktime_get_ns(); /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	s->cpu = cpu;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
