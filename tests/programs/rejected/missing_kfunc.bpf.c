/* Rejected by libbpf before the verifier: the program calls a kfunc that this kernel does not have (a misspelled bpf_task_acquire). */
/*
 * libbpf 1.1.2: extern (func ksym) 'bpf_task_aquire': not found in kernel or module BTFs
 *               failed to load object '...'   (bpf_object__load returns -22, EINVAL)
 * No verifier log: the load stops in libbpf. The line comes from the call's relocation
 * (relo against 'bpf_task_aquire' at the call instruction).
 * Fix: spell it bpf_task_acquire.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern struct task_struct *bpf_task_aquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

SEC("tp_btf/task_newtask")
int BPF_PROG(hold_task, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *p;

	p = bpf_task_aquire(task); /* EXPECT: error "extern (func ksym) 'bpf_task_aquire': not found in kernel or module BTFs" */
	if (p)
		bpf_task_release(p);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
