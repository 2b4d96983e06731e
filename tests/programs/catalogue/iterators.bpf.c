/* Rejected: open-coded bpf_iter_num iterators created twice, used uncreated, and kept in a map. */
/*
 * Verifier (6.18):
 *   sum_restarted:  expected uninitialized iter_num as arg #0
 *   sum_uncreated:  expected an initialized iter_num as arg #0
 *   iter_in_map:    arg#0 expected pointer to an iterator on stack
 * Explained by catalogue entries iter-reinit, iter-uninit, iter-not-on-stack
 * (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

SEC("tp_btf/task_newtask")
int BPF_PROG(sum_restarted, struct task_struct *task, u64 clone_flags)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	bpf_iter_num_new(&it, 0, 10);
	bpf_iter_num_new(&it, 0, 20); /* EXPECT: error "expected uninitialized iter_num as arg #0" */
	while ((v = bpf_iter_num_next(&it)))
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(sum_uncreated, struct task_struct *task, u64 clone_flags)
{
	struct bpf_iter_num it;
	int *v, sum = 0;

	while ((v = bpf_iter_num_next(&it))) /* EXPECT: error "expected an initialized iter_num as arg #0" */
		sum += *v;
	bpf_iter_num_destroy(&it);
	return sum;
}

struct cursor {
	struct bpf_iter_num it;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cursor);
} cursors SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(iter_in_map, struct task_struct *task, u64 clone_flags)
{
	__u32 key = 0;
	struct cursor *c = bpf_map_lookup_elem(&cursors, &key);

	if (!c)
		return 0;
	bpf_iter_num_new(&c->it, 0, 10); /* EXPECT: error "arg#0 expected pointer to an iterator on stack" */
	bpf_iter_num_destroy(&c->it);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
