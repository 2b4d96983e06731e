/* The kernel rejects the object's BTF (a kptr to a non-struct beside a valid one): no source notes, errors still land on C lines. */
/*
 * Seen on 6.18 with libbpf 1.1: "libbpf: Error loading .BTF into kernel: -22. BTF is optional,
 * ignoring." The maps and the program are then loaded without BTF, so the verifier log has no
 * "; ... @ file:line" notes and the kptr field is a plain 8-byte value:
 *   "map 'arr' has to have BTF in order to use bpf_kptr_xchg"
 * The line comes from the object's own .BTF.ext line info, through the loaded layout.
 * Fix: make `bad` a pointer to a struct (or drop its tag).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct holder {
	struct task_struct __kptr *task;
	long __kptr *bad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct holder);
} arr SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *ref, *old;
	struct holder *h;
	int key = 0;

	h = bpf_map_lookup_elem(&arr, &key);
	if (!h)
		return 0;
	ref = bpf_task_acquire(task);
	if (!ref)
		return 0;
	old = bpf_kptr_xchg(&h->task, ref); /* EXPECT: error "map 'arr' has to have BTF in order to use bpf_kptr_xchg" */
	if (old)
		bpf_task_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
