/* Rejected: a map value is NULL-checked, but the kptr loaded from it (`v->task`) is dereferenced unchecked in one expression. */
/*
 * Verifier (6.18): R1 invalid mem access 'untrusted_ptr_or_null_'
 * Fix: load v->task into a local and check that for NULL (checking `v` again does not help).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct val {
	struct task_struct __kptr_untrusted *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct val);
} tasks SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(read_pid, struct task_struct *task, u64 clone_flags)
{
	int key = 0;
	struct val *v = bpf_map_lookup_elem(&tasks, &key);

	if (!v)
		return 0;
	return v->task->pid; /* EXPECT: error "invalid mem access 'untrusted_ptr_or_null_'" */
}

char LICENSE[] SEC("license") = "GPL";
