/* Rejected: code written for Linux 6.2/6.3 takes its reference with bpf_task_kptr_get(), a kfunc removed since. */
/*
 * libbpf (6.18): extern (func ksym) 'bpf_task_kptr_get': not found in kernel or module BTFs
 * Explained by catalogue entry kptr-get-removed (kptr_lsp/data/explanations.toml): today
 * the kptr is read inside bpf_rcu_read_lock() and acquired with bpf_task_acquire().
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern struct task_struct *bpf_task_kptr_get(struct task_struct **pp) __ksym;

struct owner {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct owner);
} owners SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(parent_pid, struct task_struct *task, u64 clone_flags)
{
	__u32 pid = task->pid;
	struct owner *o = bpf_map_lookup_elem(&owners, &pid);
	struct task_struct *t;
	int ppid;

	if (!o)
		return 0;
	t = bpf_task_kptr_get(&o->task); /* EXPECT: error "'bpf_task_kptr_get': not found in kernel or module BTFs" */
	if (!t)
		return 0;
	ppid = t->tgid;
	bpf_task_release(t);
	return ppid;
}

char LICENSE[] SEC("license") = "GPL";
