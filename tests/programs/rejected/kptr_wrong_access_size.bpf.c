/* Rejected: a kptr field is read with a 4-byte load; kptr fields must be accessed as whole 8-byte words. */
/*
 * Verifier (6.18): kptr access size must be BPF_DW
 * Fix: read the whole pointer: `struct task_struct *t = s->task;`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr_untrusted *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(low_bits, struct task_struct *task, u64 clone_flags)
{
	struct slot *s;
	int key = 0;
	__u32 low;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;

	low = *(volatile __u32 *)&s->task; /* EXPECT: error "kptr access size must be BPF_DW" */
	return low != 0 && task->pid != 0;
}

char LICENSE[] SEC("license") = "GPL";
