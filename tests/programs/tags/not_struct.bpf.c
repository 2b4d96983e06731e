/* kptr-not-struct: a kptr tag on a pointer to long, next to a good kptr, makes the kernel reject the
 * object's whole BTF; libbpf goes on without BTF and bpf_kptr_xchg then fails. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct task_struct __kptr *task;
	long __kptr *bad; /* EXPECT: warning "must point to a struct" */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} arr SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *t, *old;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&arr, &key);
	if (!s)
		return 0;
	t = bpf_task_acquire(task);
	if (!t)
		return 0;
	old = bpf_kptr_xchg(&s->task, t); /* EXPECT: error "has to have BTF" */
	if (old)
		bpf_task_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
