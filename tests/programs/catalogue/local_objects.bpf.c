/* Rejected: bpf_list/bpf_rbtree without their lock, bpf_refcount_acquire() without a refcount, per-CPU objects misused. */
/*
 * Verifier (6.18):
 *   queue_job:       bpf_spin_lock at off=16 must be held for bpf_list_head
 *   index_job:       bpf_spin_lock at off=16 must be held for bpf_rb_root
 *   share_job:       arg#0 doesn't point to a type with bpf_refcount field
 *   percpu_owner:    bpf_percpu_obj_new type ID argument must be of a struct of scalars
 *   percpu_count:    R0 is ptr_pcpu_count access percpu memory: off=0
 * Explained by catalogue entries collection-lock-not-held, refcount-without-field,
 * percpu-obj-not-scalars, percpu-direct-access (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

/* as in the selftests' bpf_experimental.h */
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))

extern int bpf_list_push_front_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				    void *meta, __u64 off) __ksym;
#define bpf_list_push_front(head, node) bpf_list_push_front_impl(head, node, NULL, 0)
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b),
			       void *meta, __u64 off) __ksym;
#define bpf_rbtree_add(head, node, less) bpf_rbtree_add_impl(head, node, less, NULL, 0)
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;
#define bpf_refcount_acquire(kptr) bpf_refcount_acquire_impl(kptr, NULL)

struct job {
	__u64 id;
	struct bpf_list_node node;
};

struct timed_job {
	__u64 deadline;
	struct bpf_rb_node node;
};

private(queue) struct bpf_spin_lock queue_lock;
private(queue) struct bpf_list_head queue __contains(job, node);
private(tree) struct bpf_spin_lock tree_lock;
private(tree) struct bpf_rb_root by_deadline __contains(timed_job, node);

SEC("tc")
int queue_job(struct __sk_buff *skb)
{
	struct job *j = bpf_obj_new(typeof(*j));

	if (!j)
		return 0;
	j->id = skb->len;
	bpf_list_push_front(&queue, &j->node); /* EXPECT: error "must be held for bpf_list_head" */
	return 0;
}

static bool earlier(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct timed_job *x = container_of(a, struct timed_job, node);
	struct timed_job *y = container_of(b, struct timed_job, node);

	return x->deadline < y->deadline;
}

SEC("tc")
int index_job(struct __sk_buff *skb)
{
	struct timed_job *j = bpf_obj_new(typeof(*j));

	if (!j)
		return 0;
	j->deadline = skb->tstamp;
	bpf_rbtree_add(&by_deadline, &j->node, earlier); /* EXPECT: error "must be held for bpf_rb_root" */
	return 0;
}

SEC("tc")
int share_job(struct __sk_buff *skb)
{
	struct timed_job *j = bpf_obj_new(typeof(*j)), *second;

	if (!j)
		return 0;
	second = bpf_refcount_acquire(j); /* EXPECT: error "doesn't point to a type with bpf_refcount field" */
	bpf_obj_drop(second);
	bpf_obj_drop(j);
	return 0;
}

struct pcpu_owner {
	__u64 count;
	struct task_struct *owner;
};

SEC("tc")
int percpu_owner(struct __sk_buff *skb)
{
	struct pcpu_owner __percpu_kptr *p = bpf_percpu_obj_new(struct pcpu_owner); /* EXPECT: error "must be of a struct of scalars" */

	if (!p)
		return 0;
	bpf_percpu_obj_drop(p);
	return 0;
}

struct pcpu_count {
	__u64 count;
};

SEC("tc")
int percpu_count(struct __sk_buff *skb)
{
	struct pcpu_count __percpu_kptr *p = bpf_percpu_obj_new(struct pcpu_count);

	if (!p)
		return 0;
	p->count = 1; /* EXPECT: error "access percpu memory: off=0" */
	bpf_percpu_obj_drop(p);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
