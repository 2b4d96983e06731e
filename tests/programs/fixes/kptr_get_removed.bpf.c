/* Rejected: written for 6.1, the program takes a reference to a stored task with bpf_task_kptr_get(), removed in 6.4. */
/*
 * libbpf (6.18): extern (func ksym) 'bpf_task_kptr_get': not found in kernel or module BTFs
 * Fix: load the kptr inside bpf_rcu_read_lock()/bpf_rcu_read_unlock() and take the
 * reference with bpf_task_acquire().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern struct task_struct *bpf_task_kptr_get(struct task_struct **pp) __ksym;

struct slot {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} saved SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(saved_pid, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t;
	struct slot *s;
	int key = 0;
	int pid;

	s = bpf_map_lookup_elem(&saved, &key);
	if (!s)
		return 0;
	t = bpf_task_kptr_get(&s->task); /* EXPECT: error "'bpf_task_kptr_get': not found in kernel or module BTFs" */
	if (!t)
		return 0;
	pid = t->pid;
	bpf_task_release(t);
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
