/* Close to incomplete_type, with the suggested fix: bpf_core_type_size makes clang emit the full
 * task_struct, so the field is a referenced kptr and the plain store is refused. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#define __kptr __attribute__((btf_type_tag("kptr")))

struct slot {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} slots SEC(".maps");

SEC("tp_btf/task_newtask")
int stash(unsigned long long *ctx)
{
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&slots, &key);
	if (!s || bpf_core_type_size(struct task_struct) == 0)
		return 0;
	s->task = (struct task_struct *)ctx[0]; /* EXPECT: error "store to referenced kptr disallowed" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
