/* Rejected: arguments helpers and kfuncs refuse (NULL, not constant, not trusted, not ctx) and a sleeping global function. */
/*
 * Verifier (6.18):
 *   swap_mask:          Possibly NULL pointer passed to helper arg2
 *   peek_header:        R4 must be a known constant
 *   walk_wakee_threads: R2 must be referenced or trusted
 *   mark_of_value:      arg#0 expects pointer to ctx
 *                       Caller passes invalid args into func#1 ('skb_mark')
 *   new_task_flag:      global functions that may sleep are not allowed in non-sleepable context, ...
 *   seed_from_default:  R3 type=map_value_or_null expected=fp, pkt, ... (through a volatile local,
 *                       kept on the stack: the explanation follows the value through the slot)
 * Explained by catalogue entries helper-null-arg, arg-not-constant, arg-not-trusted,
 * arg-ctx-expected, sleepable-global-function, helper-wrong-arg
 * (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, u32 offset, void *buffer__opt,
			      u32 buffer__szk) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
			     unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;

struct mask_slot {
	struct bpf_cpumask __kptr *mask;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mask_slot);
} masks SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(swap_mask, struct task_struct *task, u64 clone_flags)
{
	__u32 key = 0;
	struct mask_slot *v = bpf_map_lookup_elem(&masks, &key);
	struct bpf_cpumask *cur, *old;

	if (!v)
		return 0;
	bpf_rcu_read_lock();
	cur = v->mask;
	old = bpf_kptr_xchg(&v->mask, cur); /* EXPECT: error "Possibly NULL pointer passed to helper arg2" */
	bpf_rcu_read_unlock();
	if (old)
		bpf_cpumask_release(old);
	return 0;
}

SEC("tc")
int peek_header(struct __sk_buff *skb)
{
	struct bpf_dynptr pkt;
	char buf[64];
	__u32 len = skb->len & 63;
	void *hdr;

	bpf_dynptr_from_skb(skb, 0, &pkt);
	hdr = bpf_dynptr_slice(&pkt, 0, buf, len); /* EXPECT: error "R4 must be a known constant" */
	return hdr ? 1 : 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(walk_wakee_threads, struct task_struct *task, u64 clone_flags)
{
	struct bpf_iter_task it;
	struct task_struct *t;
	int n = 0;

	bpf_rcu_read_lock();
	bpf_iter_task_new(&it, task->last_wakee, BPF_TASK_ITER_PROC_THREADS); /* EXPECT: error "R2 must be referenced or trusted" */
	while ((t = bpf_iter_task_next(&it)))
		n++;
	bpf_iter_task_destroy(&it);
	bpf_rcu_read_unlock();
	return n;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct __sk_buff);
} last_skb SEC(".maps");

__noinline int skb_mark(struct __sk_buff *skb)
{
	return skb ? skb->mark : 0;
}

SEC("tc")
int mark_of_value(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct __sk_buff *saved = bpf_map_lookup_elem(&last_skb, &key);

	if (!saved)
		return 0;
	return skb_mark(saved); /* EXPECT: error "arg#0 expects pointer to ctx" */
}

__noinline int read_user_flag(__u64 uaddr)
{
	int v = 0;

	bpf_copy_from_user(&v, sizeof(v), (const void *)uaddr);
	return v;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(new_task_flag, struct task_struct *task, u64 clone_flags)
{
	return read_user_flag(clone_flags); /* EXPECT: error "global functions that may sleep are not allowed in non-sleepable context" */
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} seeds SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(seed_from_default, struct task_struct *task, u64 clone_flags)
{
	__u32 pid = task->pid, any = 0;
	__u64 *volatile seed = bpf_map_lookup_elem(&seeds, &any); /* volatile: lives on the stack */

	bpf_map_update_elem(&seeds, &pid, seed, BPF_ANY); /* EXPECT: error "R3 type=map_value_or_null expected=fp" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
