/* Rejected: a kfunc is passed a pointer to the wrong kernel struct. */
/*
 * Verifier (6.18): kernel function bpf_task_release args#0 expected pointer to STRUCT task_struct but R1 has a pointer to STRUCT bpf_cpumask
 * Explained by catalogue entry kfunc-wrong-struct (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

SEC("tp_btf/task_newtask")
int BPF_PROG(release_mask_as_task, struct task_struct *task, u64 clone_flags)
{
	struct bpf_cpumask *mask = bpf_cpumask_create();

	if (!mask)
		return 0;
	bpf_task_release((struct task_struct *)mask); /* EXPECT: error "kernel function bpf_task_release args#0 expected pointer to STRUCT task_struct but R1 has a pointer to STRUCT bpf_cpumask" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
