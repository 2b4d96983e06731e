/* vmlinux.h reached through a project header that includes it as <vmlinux.h>: accepted. */
#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sock *);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(tcp_v4_connect_entry, struct sock *sk)
{
	u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&start, &sk, &ts, BPF_ANY);
	return 0;
}

SEC("kprobe/tcp_rcv_state_process")
int BPF_KPROBE(tcp_rcv_state_process_entry, struct sock *sk)
{
	u32 zero = 0;
	u64 *tsp, slot;
	struct hist *h;

	if (BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_SENT)
		return 0;
	tsp = bpf_map_lookup_elem(&start, &sk);
	if (!tsp)
		return 0;
	h = bpf_map_lookup_elem(&hists, &zero);
	if (h) {
		slot = log2l((bpf_ktime_get_ns() - *tsp) / 1000);
		if (slot >= MAX_SLOTS)
			slot = MAX_SLOTS - 1;
		__sync_fetch_and_add(&h->slots[slot], 1);
	}
	bpf_map_delete_elem(&start, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
