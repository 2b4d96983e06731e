/* Rejected: bpf_local_irq_save()/bpf_local_irq_restore() misused four ways (one program each). */
/*
 * Verifier (6.18):
 *   nested_wrong_order: cannot restore irq state out of order, expected id=2 acquired at insn_idx=7
 *   early_return:       BPF_EXIT instruction in main prog cannot be used inside bpf_local_irq_save-ed region
 *                       (on the exit's own line: clang merges the returns into the function's;
 *                       the path names the save and the `if` that returns early)
 *   restore_unsaved:    expected an initialized irq flag as arg#0
 *   save_twice:         expected uninitialized irq flag as arg#0
 * Explained by catalogue entries irq-restore-out-of-order, irq-exit-inside-region,
 * irq-flag-uninit, irq-flag-reused (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern void bpf_local_irq_save(unsigned long *flags) __ksym;
extern void bpf_local_irq_restore(unsigned long *flags) __ksym;

__u64 hits;

SEC("tp_btf/task_newtask")
int BPF_PROG(nested_wrong_order, struct task_struct *task, u64 clone_flags)
{
	unsigned long outer, inner;

	bpf_local_irq_save(&outer);
	bpf_local_irq_save(&inner);
	hits++;
	bpf_local_irq_restore(&outer); /* EXPECT: error "cannot restore irq state out of order" */
	bpf_local_irq_restore(&inner);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(early_return, struct task_struct *task, u64 clone_flags) /* EXPECT: error "BPF_EXIT instruction in main prog cannot be used inside bpf_local_irq_save-ed region" */
{
	unsigned long flags;

	bpf_local_irq_save(&flags);
	if (task->pid == 1)
		return 0;
	hits++;
	bpf_local_irq_restore(&flags);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(restore_unsaved, struct task_struct *task, u64 clone_flags)
{
	unsigned long flags;

	hits++;
	bpf_local_irq_restore(&flags); /* EXPECT: error "expected an initialized irq flag as arg#0" */
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(save_twice, struct task_struct *task, u64 clone_flags)
{
	unsigned long flags;

	bpf_local_irq_save(&flags);
	hits++;
	bpf_local_irq_save(&flags); /* EXPECT: error "expected uninitialized irq flag as arg#0" */
	bpf_local_irq_restore(&flags);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
