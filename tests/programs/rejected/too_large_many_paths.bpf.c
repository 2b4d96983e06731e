/* Rejected: a sampling loop whose every branch keeps a distinct exact value, so the verifier walks path after path until it gives up; its level-1 log is megabytes. */
/*
 * Verifier (6.18): BPF program is too large. Processed 1000001 insn
 * The walk ends inside the loop, on its `for` line. Every path carries a different
 * constant `slot`, and `slot` later indexes a map value, so no two states are equivalent
 * and nothing is pruned. At level 1 the log holds the whole path being walked when the limit
 * hit, more than the 1 MiB first buffer: the kernel answers ENOSPC, not E2BIG.
 * Fix: bound the index instead of tracking it exactly (`slot & (NR_SLOTS - 1)` inside the
 * loop), or use bpf_loop().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_SLOTS 64
#define PROBES 3000

struct slots {
	__u64 hits[NR_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} samples SEC(".maps");

SEC("tp/sched/sched_wakeup")
int sample_wakeup(void *ctx)
{
	__u32 key = 0, slot = 0;
	struct slots *s = bpf_map_lookup_elem(&samples, &key);

	if (!s)
		return 0;
	for (int i = 0; i < PROBES; i++) { /* EXPECT: error "BPF program is too large. Processed 1000001 insn" */
		if (bpf_get_prandom_u32() & 1)
			slot += 3;
		else
			slot ^= i;
	}
	s->hits[slot & (NR_SLOTS - 1)]++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
