/* Rejected: a dynptr holding a ring buffer reservation is initialised again. */
/*
 * Verifier (6.18): cannot overwrite referenced dynptr
 * Explained by catalogue entry dynptr-overwrite (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(reserve_twice, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;

	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &ptr); /* the first reservation */
	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &ptr); /* EXPECT: error "cannot overwrite referenced dynptr" */
	bpf_ringbuf_discard_dynptr(&ptr, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
