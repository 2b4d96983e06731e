/* Rejected: a length read from a map is passed to bpf_probe_read_kernel() without being clamped to the buffer. */
/*
 * Verifier (6.18): R2 unbounded memory access, use 'var &= const' or 'if (var < const)'
 * Fix: clamp the length to sizeof(buf) just before the call.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct cfg {
	u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct cfg);
} lengths SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(copy_comm, struct task_struct *task, u64 clone_flags)
{
	char buf[16] = {};
	struct cfg *c;
	int key = 0;
	u32 len;

	c = bpf_map_lookup_elem(&lengths, &key);
	if (!c)
		return 0;
	len = c->len;
	bpf_probe_read_kernel(buf, len, task->comm); /* EXPECT: error "R2 unbounded memory access" */
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
