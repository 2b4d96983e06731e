/* kptr-unknown-tag: libbpf 1.1's __kptr_ref emits "kptr_ref", which Linux >= 6.4 does not know. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

/* As in projects written against libbpf 1.1, whose bpf_helpers.h had it (current ones do not). */
#ifndef __kptr_ref
#define __kptr_ref __attribute__((btf_type_tag("kptr_ref")))
#endif

struct slot {
	struct task_struct __kptr_ref *task; /* EXPECT: warning "not a kptr tag" */
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
	return t->pid; /* EXPECT: error "invalid mem access 'scalar'" */
}

char LICENSE[] SEC("license") = "GPL";
