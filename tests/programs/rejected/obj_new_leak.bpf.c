/* Rejected: an object from bpf_obj_new is neither dropped with bpf_obj_drop nor stashed in a map (Unreleased reference). */
/*
 * Verifier (6.18): Unreleased reference id=2 alloc_insn=4
 *                   BPF_EXIT instruction in main prog would lead to reference leak
 * alloc_insn 4 is the bpf_obj_new_impl call.
 * Fix: bpf_obj_drop(c) before returning, or stash it with bpf_kptr_xchg.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct counter {
	__u64 forks;
	__u32 last_pid;
};

SEC("tp_btf/task_newtask")
int BPF_PROG(count_forks, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct counter *c;

	c = bpf_obj_new(struct counter); /* EXPECT: error "Unreleased reference" */
	if (!c)
		return 0;

	c->forks = 1;
	c->last_pid = task->pid;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
