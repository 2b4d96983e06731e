/* Follows a task's parent with an acquired reference, as sched tracers do; the early return
 * for kernel threads forgets to release it. The verifier reports the leak at the exit; the
 * fix belongs on the branch that returns early. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define PF_KTHREAD 0x00200000

struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} parent_of SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(record_parent, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct task_struct *parent;
	__u32 pid, ppid;

	parent = bpf_task_acquire(task->real_parent); /* EXPECT: error "Unreleased reference" */
	if (!parent)
		return 0;
	if (parent->flags & PF_KTHREAD) /* RELATED: leaking branch */
		return 0;
	pid = task->pid;
	ppid = parent->tgid;
	bpf_map_update_elem(&parent_of, &pid, &ppid, BPF_ANY);
	bpf_task_release(parent);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
