/* Rejected: arithmetic the verifier refuses on pointers, ctx and the map object (one program each). */
/*
 * Verifier (6.18):
 *   eth_room:        R2 pointer arithmetic on pkt_end prohibited
 *   hash_slot:       R0 pointer arithmetic with <<= operator prohibited
 *   align_down:      R0 bitwise operator &= on pointer prohibited
 *   mark_by_pointer: dereference of modified ctx ptr R1 off=8 disallowed
 *   len_or_default:  same insn cannot be used with different pointers
 *   bump_config:     only read from bpf_array is supported
 *   raw_insn:        unknown opcode ff
 * Explained by catalogue entries pkt-end-arithmetic, pointer-shift, pointer-bitwise,
 * modified-ctx-deref, same-insn-different-pointers, map-pointer-write, unknown-opcode
 * (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} settings SEC(".maps");

SEC("tc")
int eth_room(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end - 4) /* EXPECT: error "pointer arithmetic on pkt_end prohibited" */
		return 0;
	return eth->h_proto;
}

SEC("tc")
int hash_slot(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&settings, &key);

	if (!v)
		return 0;
	asm volatile("" : "+r"(v)); /* barrier_var(v) */
	return (long)v << 3; /* EXPECT: error "pointer arithmetic with <<= operator prohibited" */
}

SEC("tc")
int align_down(struct __sk_buff *skb)
{
	__u32 key = 0;
	char *v = bpf_map_lookup_elem(&settings, &key);

	if (!v)
		return 0;
	v = (char *)((unsigned long)v & ~7UL); /* EXPECT: error "bitwise operator &= on pointer prohibited" */
	return *v;
}

SEC("tc")
int mark_by_pointer(struct __sk_buff *skb)
{
	__u32 *field = &skb->mark;

	asm volatile("" : "+r"(field)); /* barrier_var(field) */
	return *field; /* EXPECT: error "dereference of modified ctx ptr R1 off=8 disallowed" */
}

SEC("tc")
int len_or_default(struct __sk_buff *skb)
{
	__u32 fallback = 7;
	__u32 *len = (__u32 *)skb;

	if (skb->protocol == 0)
		len = &fallback;
	asm volatile("" : "+r"(len)); /* barrier_var(len) */
	return *len; /* EXPECT: error "same insn cannot be used with different pointers" */
}

SEC("tc")
int bump_config(struct __sk_buff *skb)
{
	*(volatile __u64 *)&settings = skb->len; /* EXPECT: error "only read from bpf_array is supported" */
	return 0;
}

SEC("tc")
int raw_insn(struct __sk_buff *skb) /* EXPECT: error "unknown opcode ff" */
{
	asm volatile(".byte 0xff, 0, 0, 0, 0, 0, 0, 0");
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
