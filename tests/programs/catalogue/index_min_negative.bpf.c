/* Rejected: a signed length checked only against its upper bound may be negative. */
/*
 * Verifier (6.18): R2 min value is negative, either use unsigned or 'var &= const'
 * Explained by catalogue entry negative-size (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/task_newtask")
int BPF_PROG(copy_comm, struct task_struct *task, u64 clone_flags)
{
	char buf[16];
	int len = bpf_get_prandom_u32();

	if (len > (int)sizeof(buf))
		return 0;
	bpf_probe_read_kernel(buf, len, task->comm); /* EXPECT: error "min value is negative, either use unsigned or 'var &= const'" */
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
