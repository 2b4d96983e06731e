/* Close to unknown_tag: "kptr_untrusted" is known, so the loaded pointer is an untrusted task. */
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
int BPF_PROG(read_task, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;
	t = s->task;
	if (!t)
		return 0;
	return t->pid;
}

char LICENSE[] SEC("license") = "GPL";
