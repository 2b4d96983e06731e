/* Rejected: a helper that may sleep is called from a program that must not sleep. */
/*
 * Verifier (6.18): helper call might sleep in a non-sleepable prog
 * Explained by catalogue entry helper-might-sleep (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/task_newtask")
int BPF_PROG(copy_user, struct task_struct *task, u64 clone_flags)
{
	char buf[8];

	bpf_copy_from_user(buf, sizeof(buf), (void *)0x1000); /* EXPECT: error "helper call might sleep in a non-sleepable prog" */
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
