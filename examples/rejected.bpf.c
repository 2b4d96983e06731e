/* Demo (rejected): keep a reference to the newest task forked in each process, but leak the one it replaces. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* libbpf 1.1 has neither the tag nor the kfunc declarations: spell them out. */
#define __kptr __attribute__((btf_type_tag("kptr")))
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

struct newest {
	struct task_struct __kptr *task;	/* referenced: we own it while it is here */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, int);			/* tgid of the parent process */
	__type(value, struct newest);
} newest_child SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(remember_child, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct newest empty = {}, *slot;
	struct task_struct *ref, *old;
	int tgid = task->tgid;

	bpf_map_update_elem(&newest_child, &tgid, &empty, BPF_NOEXIST);
	slot = bpf_map_lookup_elem(&newest_child, &tgid);
	if (!slot)
		return 0;

	ref = bpf_task_acquire(task);
	if (!ref)
		return 0;

	/* The map now owns `ref`, and we own whatever was there before. */
	old = bpf_kptr_xchg(&slot->task, ref); /* EXPECT: error "Unreleased reference" */
	if (old)
		bpf_printk("tgid %d: child %d replaced", tgid, old->pid);
	/* Fix: release the reference we got back:
	 *	if (old)
	 *		bpf_task_release(old);
	 */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
