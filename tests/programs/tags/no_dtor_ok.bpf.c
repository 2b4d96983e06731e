/* Close to no_dtor: an unreferenced file kptr needs no destructor; loads read an untrusted file. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct slot {
	struct file __kptr_untrusted *f;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct slot);
} files SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(peek, struct task_struct *task, u64 clone_flags)
{
	struct file *fp;
	struct slot *s;
	int key = 0;

	s = bpf_map_lookup_elem(&files, &key);
	if (!s)
		return 0;
	fp = s->f;
	if (!fp)
		return 0;
	return fp->f_flags;
}

char LICENSE[] SEC("license") = "GPL";
