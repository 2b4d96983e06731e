/* Rejected: a dynptr is read before anything initialised it. */
/*
 * Verifier (6.18): Expected an initialized dynptr as arg #2
 * Explained by catalogue entry dynptr-uninit (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/task_newtask")
int BPF_PROG(read_uninit, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;
	char buf[8];

	bpf_dynptr_read(buf, sizeof(buf), &ptr, 0, 0); /* EXPECT: error "Expected an initialized dynptr as arg #2" */
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
