/* Rejected: bpf_kptr_xchg() into a map value without kptr fields, and into a plain pointer field. */
/*
 * Verifier (6.18):
 *   stash_in_counter: R1 has no valid kptr
 *   stash_untagged:   off=8 doesn't point to kptr
 * Explained by catalogue entries kptr-xchg-no-kptr, kptr-xchg-not-kptr-field
 * (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct owner {
	struct task_struct __kptr *task;
	struct task_struct *last; /* no __kptr: a plain number to the verifier */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct owner);
} owners SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(stash_in_counter, struct task_struct *task, u64 clone_flags)
{
	__u32 key = 0;
	__u64 *slot = bpf_map_lookup_elem(&counters, &key);
	struct task_struct *t, *old;

	if (!slot)
		return 0;
	t = bpf_task_acquire(task);
	if (!t)
		return 0;
	old = bpf_kptr_xchg((struct task_struct **)slot, t); /* EXPECT: error "R1 has no valid kptr" */
	if (old)
		bpf_task_release(old);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(stash_untagged, struct task_struct *task, u64 clone_flags)
{
	__u32 key = 0;
	struct owner *o = bpf_map_lookup_elem(&owners, &key);
	struct task_struct *t, *old;

	if (!o)
		return 0;
	t = bpf_task_acquire(task);
	if (!t)
		return 0;
	old = bpf_kptr_xchg(&o->last, t); /* EXPECT: error "off=8 doesn't point to kptr" */
	if (old)
		bpf_task_release(old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
