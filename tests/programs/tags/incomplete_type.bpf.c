/* kptr-incomplete-type: the program never uses task_struct's members, so clang emits it as a
 * FWD; the kernel then ignores the field and a plain store of a trusted pointer passes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#define __kptr __attribute__((btf_type_tag("kptr")))

struct slot {
	struct task_struct __kptr *task; /* EXPECT: warning "only forward-declared" */
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
	if (!s)
		return 0;
	s->task = (struct task_struct *)ctx[0];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
