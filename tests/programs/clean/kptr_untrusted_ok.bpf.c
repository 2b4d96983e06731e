/* Clean: an unreferenced __kptr_untrusted field is set with a plain store and read back with a NULL check. */
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
int BPF_PROG(remember_prev_pid, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *prev;
	struct task_slot *slot;
	int key = 0;
	int pid = 0;

	slot = bpf_map_lookup_elem(&last_task, &key);
	if (!slot)
		return 0;

	prev = slot->last_task;
	if (prev)
		pid = prev->pid;
	slot->last_task = task;
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
