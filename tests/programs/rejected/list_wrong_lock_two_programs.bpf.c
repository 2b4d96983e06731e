/* Rejected: two programs push onto their own queue under the wrong lock in one shared helper; the kernel's second lines differ. */
/*
 * Verifier (6.18), both on the bpf_list_push_front() line of queue_packet():
 *   rx_enqueue: held lock and object are not in the same allocation
 *               bpf_spin_lock at off=0 must be held for bpf_list_head
 *   tx_enqueue: held lock and object are not in the same allocation
 *               bpf_spin_lock at off=16 must be held for bpf_list_head
 * (the offset is that of the lock in each queue's own map value). Fix: take the queue's own
 * lock (`&q->lock`), not the global stats_lock.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "../kptr_common.h"

/* As in the kernel selftests' bpf_experimental.h. */
#ifndef __contains
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
#endif
#define private(name) SEC(".data." #name) __hidden __attribute__((aligned(8)))

extern int bpf_list_push_front_impl(struct bpf_list_head *head, struct bpf_list_node *node,
				    void *meta, __u64 off) __ksym;
#define bpf_list_push_front(head, node) bpf_list_push_front_impl(head, node, NULL, 0)

struct pkt_meta {
	__u32 len;
	__u32 ifindex;
	struct bpf_list_node node;
};

struct rx_queue {
	struct bpf_spin_lock lock;
	struct bpf_list_head pending __contains(pkt_meta, node);
};

struct tx_queue {
	__u64 sent;
	__u64 dropped;
	struct bpf_spin_lock lock;
	struct bpf_list_head pending __contains(pkt_meta, node);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rx_queue);
} rx_queues SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tx_queue);
} tx_queues SEC(".maps");

private(STATS) struct bpf_spin_lock stats_lock;

static __always_inline int queue_packet(struct __sk_buff *skb, struct bpf_list_head *pending)
{
	struct pkt_meta *m = bpf_obj_new(typeof(*m));

	if (!m)
		return 0;
	m->len = skb->len;
	m->ifindex = skb->ifindex;
	bpf_spin_lock(&stats_lock);
	bpf_list_push_front(pending, &m->node); /* EXPECT: error "bpf_spin_lock at off=0 must be held for bpf_list_head" */ /* EXPECT: error "bpf_spin_lock at off=16 must be held for bpf_list_head" */
	bpf_spin_unlock(&stats_lock);
	return 1;
}

SEC("tc")
int rx_enqueue(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct rx_queue *q = bpf_map_lookup_elem(&rx_queues, &key);

	if (!q)
		return 0;
	return queue_packet(skb, &q->pending);
}

SEC("tc")
int tx_enqueue(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct tx_queue *q = bpf_map_lookup_elem(&tx_queues, &key);

	if (!q)
		return 0;
	return queue_packet(skb, &q->pending);
}

char LICENSE[] SEC("license") = "GPL";
