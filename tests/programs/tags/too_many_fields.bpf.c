/* kptr-too-many-fields: 12 kptrs exceed BTF_FIELDS_MAX (11 on 6.10+): the kernel rejects the BTF (E2BIG). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr_untrusted *t1;
	struct task_struct __kptr_untrusted *t2;
	struct task_struct __kptr_untrusted *t3;
	struct task_struct __kptr_untrusted *t4;
	struct task_struct __kptr_untrusted *t5;
	struct task_struct __kptr_untrusted *t6;
	struct task_struct __kptr_untrusted *t7;
	struct task_struct __kptr_untrusted *t8;
	struct task_struct __kptr_untrusted *t9;
	struct task_struct __kptr_untrusted *t10;
	struct task_struct __kptr_untrusted *t11;
	struct task_struct __kptr_untrusted *t12; /* EXPECT: warning "past the limit" */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(read_first, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s)
		return 0;
	t = s->t1;
	if (!t)
		return 0;
	return t->pid; /* EXPECT: error "invalid mem access 'scalar'" */
}

char LICENSE[] SEC("license") = "GPL";
