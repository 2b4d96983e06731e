/* Clean: objects from bpf_obj_new are either dropped with bpf_obj_drop or stashed in a map as a local kptr. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct counter {
	__u64 forks;
	__u32 last_pid;
};

struct holder {
	struct counter __kptr *c;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct holder);
} holders SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(count_forks, struct task_struct *task, u64 clone_flags)
{
	struct counter *c, *old;
	struct holder *h;
	int key = 0;

	c = bpf_obj_new(struct counter);
	if (!c)
		return 0;
	c->forks = 1;
	c->last_pid = task->pid;

	h = bpf_map_lookup_elem(&holders, &key);
	if (!h) {
		bpf_obj_drop(c);
		return 0;
	}

	old = bpf_kptr_xchg(&h->c, c);
	if (old)
		bpf_obj_drop(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
