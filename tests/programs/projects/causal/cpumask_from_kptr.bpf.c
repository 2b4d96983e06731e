/* Marks the CPU a task last ran on in a cpumask kept in a map, under RCU, as CPU-placement
 * policies do; the kptr field is read but never compared with NULL (the map slot may not hold
 * a mask yet). The kfunc's second argument (index 1) is the one refused. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

void bpf_rcu_read_lock(void) __ksym;
void bpf_rcu_read_unlock(void) __ksym;
void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;

struct placement {
	struct bpf_cpumask __kptr *seen;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct placement);
} placements SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(note_cpu, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	struct placement *p;
	struct bpf_cpumask *seen;

	p = bpf_map_lookup_elem(&placements, &zero);
	if (!p)
		return 0;
	bpf_rcu_read_lock();
	seen = p->seen; /* RELATED: loaded */
	bpf_cpumask_set_cpu(bpf_get_smp_processor_id(), seen); /* EXPECT: error "Possibly NULL pointer passed to trusted arg1" */
	bpf_rcu_read_unlock();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
