/* Rejected: a runqslower-style tracer reads a field renamed in 5.14 through a ___legacy flavor struct, without a guard. */
/*
 * libbpf (1.1.2 and 1.4.6) on kernel 6.18, in the verifier log it hands back:
 *   0: <invalid CO-RE relocation>
 *   failed to resolve CO-RE relocation <byte_off> [N] struct task_struct___legacy.state (0:0 @ offset 0)
 * (libbpf found no `state` in this kernel's `struct task_struct`: 5.14 renamed it `__state`,
 * so it poisoned the read, and the verifier rejected the poisoned instruction).
 * Fix: test bpf_core_field_exists() first and read `__state` on newer kernels, as
 * libbpf-tools' core_fixes.bpf.h does (clean/core_legacy_field_guarded.bpf.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define TASK_RUNNING 0

/* The layout before 5.14; libbpf matches it against `struct task_struct`. */
struct task_struct___legacy {
	volatile long state;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct___legacy *old = (void *)prev;
	u32 pid = BPF_CORE_READ(prev, pid);
	u64 ts;

	/* a task preempted while runnable goes back on the run queue: time it from now */
	if (BPF_CORE_READ(old, state) == TASK_RUNNING) { /* EXPECT: error "failed to resolve CO-RE relocation <byte_off>" */ /* EXPECT: error "struct task_struct___legacy.state (0:0 @ offset 0)" */ /* EXPECT: error "<invalid CO-RE relocation>" */
		ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
