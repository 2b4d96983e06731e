/* Rejected: an unreferenced __kptr_untrusted field is loaded from a map value and dereferenced without a NULL check. */
/*
 * Verifier (6.18): R1 invalid mem access 'untrusted_ptr_or_null_'
 * Fix: check `prev` for NULL before reading prev->pid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct task_slot {
	struct task_struct __kptr_untrusted *last_task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct task_slot);
} last_task SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(remember_parent_pid, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *prev;
	struct task_slot *slot;
	int key = 0;
	int pid;

	slot = bpf_map_lookup_elem(&last_task, &key);
	if (!slot)
		return 0;

	prev = slot->last_task;
	pid = prev->pid; /* EXPECT: error "invalid mem access 'untrusted_ptr_or_null_'" */
	slot->last_task = task;
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
