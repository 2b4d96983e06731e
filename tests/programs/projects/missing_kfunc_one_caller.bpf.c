/* Two programs in one object, one calling a kfunc this kernel does not have: only that one fails. */
/*
 * libbpf resolves every extern of the object before it loads any program, so as compiled the
 * whole object fails on
 *   extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs
 * kptr-lsp verifies the other program with the missing kfunc bound weak: the kernel accepts it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern struct task_struct *bpf_nonexistent_kfunc(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

SEC("tp_btf/task_newtask")
int BPF_PROG(hold_new_task, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *p;

	p = bpf_nonexistent_kfunc(task); /* EXPECT: error "extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs" */
	if (p)
		bpf_task_release(p);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(log_new_task, struct task_struct *task, u64 clone_flags)
{
	bpf_printk("new task %d, flags %llx", task->pid, clone_flags);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
