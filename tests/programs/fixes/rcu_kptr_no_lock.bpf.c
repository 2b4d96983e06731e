/* Rejected: a sleepable program loads an RCU-protected kptr and acquires it outside an RCU read section. */
/*
 * Verifier (6.18): R1 must be referenced or trusted
 * Fix: load and acquire the kptr between bpf_rcu_read_lock() and bpf_rcu_read_unlock().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} saved SEC(".maps");

SEC("syscall")
int read_saved(void *ctx)
{
	struct task_struct *t;
	struct slot *s;
	int key = 0;
	int pid;

	s = bpf_map_lookup_elem(&saved, &key);
	if (!s)
		return 0;
	t = s->task;
	if (!t)
		return 0;
	t = bpf_task_acquire(t); /* EXPECT: error "must be a rcu pointer" */
	if (!t)
		return 0;
	pid = t->pid;
	bpf_task_release(t);
	return pid;
}

char LICENSE[] SEC("license") = "GPL";
