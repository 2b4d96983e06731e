/* Close to map_type: the same value in a hash map keeps its BTF, so the kptr is an untrusted task. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr_untrusted *task;
};

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, struct slot);
} trie SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(read_task, struct task_struct *task, u64 clone_flags)
{
	struct lpm_key k = { .prefixlen = 32, .addr = 0 };
	struct task_struct *t;
	struct slot *s;

	s = bpf_map_lookup_elem(&trie, &k);
	if (!s)
		return 0;
	t = s->task;
	if (!t)
		return 0;
	return t->pid;
}

char LICENSE[] SEC("license") = "GPL";
