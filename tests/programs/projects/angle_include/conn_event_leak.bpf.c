/* Rejected, with <vmlinux.h> through a project header: a ring buffer record is not submitted on one path. */
/*
 * Verifier (6.18): Unreleased reference id=2 alloc_insn=N
 *                  BPF_EXIT instruction in main prog would lead to reference leak
 * Fix: bpf_ringbuf_discard(e, 0) before the early return.
 */
#include "common.bpf.h"

struct conn_event {
	u32 pid;
	u16 family;
	u16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(trace_connect, struct sock *sk) /* RELATED: exit */
{
	struct conn_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0); /* EXPECT: error "Unreleased reference" */
	if (!e)
		return 0;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (e->family != AF_INET)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
