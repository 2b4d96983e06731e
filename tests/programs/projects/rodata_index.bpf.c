/* A rodata option the verifier treats as a constant: its value decides whether an access is in bounds. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define NR_SLOTS 4

/* Which histogram slot to count in; userspace may set it before load. With the default the
 * access below is in bounds. With rodataOverrides {"slot": 7} the verifier rejects it:
 * "invalid access to map value, value_size=32 off=56 size=8". */
const volatile u32 slot = 0;

struct hist {
	u64 slots[NR_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(count_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 zero = 0;
	struct hist *h = bpf_map_lookup_elem(&hists, &zero);

	if (!h)
		return 0;
	h->slots[slot] += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
