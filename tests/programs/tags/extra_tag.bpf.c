/* kptr-extra-tag: a second type tag on the pointee makes the kernel drop the field. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr __attribute__((btf_type_tag("user"))) *task; /* EXPECT: warning "2 type tags" */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t, *old;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;
	t = bpf_task_acquire(task);
	if (!t)
		return 0;
	old = bpf_kptr_xchg(&s->task, t); /* EXPECT: error "has no valid kptr" */
	if (old)
		bpf_task_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
