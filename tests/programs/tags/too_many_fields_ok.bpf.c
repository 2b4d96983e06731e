/* Close to too_many_fields: 11 kptrs is the limit, so the BTF loads and t1 is an untrusted task. */
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
	return t->pid;
}

char LICENSE[] SEC("license") = "GPL";
