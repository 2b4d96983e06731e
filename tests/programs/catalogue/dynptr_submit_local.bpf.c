/* Rejected: a dynptr over a map value is submitted as if it were a ring buffer record. */
/*
 * Verifier (6.18): arg 1 is an unacquired reference
 * Explained by catalogue entry dynptr-unacquired (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} scratch SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(submit_local, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&scratch, &key);

	if (!v)
		return 0;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &ptr);
	bpf_ringbuf_submit_dynptr(&ptr, 0); /* EXPECT: error "arg 1 is an unacquired reference" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
