/* Clean: the same tracer reads the task state through flavors, guarded by bpf_core_field_exists() as libbpf-tools' core_fixes.bpf.h does. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define TASK_RUNNING 0

/* Before 5.14 the field was `state`; since, `__state`. */
struct task_struct___legacy {
	volatile long state;
} __attribute__((preserve_access_index));

struct task_struct___current {
	unsigned int __state;
} __attribute__((preserve_access_index));

static __always_inline __s64 get_task_state(void *task)
{
	struct task_struct___current *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___legacy *)task, state);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 pid = BPF_CORE_READ(prev, pid);
	u64 ts;

	/* a task preempted while runnable goes back on the run queue: time it from now */
	if (get_task_state(prev) == TASK_RUNNING) {
		ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
