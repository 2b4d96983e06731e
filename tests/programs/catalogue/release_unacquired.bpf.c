/* Rejected: a reference that the program never acquired is released. */
/*
 * Verifier (6.18): release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID
 * Explained by catalogue entry release-unacquired (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int BPF_PROG(release_borrowed, struct task_struct *task, u64 clone_flags)
{
	bpf_task_release(task); /* EXPECT: error "release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
