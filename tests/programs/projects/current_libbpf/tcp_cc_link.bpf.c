/* Accepted: a tcp_congestion_ops in SEC(".struct_ops.link"), written the current way (bpf_cubic/bpf_dctcp style). */
/*
 * libbpf 1.1 reports every program of such a map rejected with "BPF program load failed:
 * ERROR: strerror_r(524)=22"; libbpf >= 1.4 loads it and the kernel accepts each program.
 * Loaded only: nothing is registered (a .struct_ops.link map registers on attach).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define TCP_INFINITE_SSTHRESH 0x7fffffff

static inline struct tcp_sock *tcp_sk(const struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

SEC("struct_ops")
void BPF_PROG(half_init, struct sock *sk)
{
	tcp_sk(sk)->snd_ssthresh = TCP_INFINITE_SSTHRESH;
}

SEC("struct_ops")
__u32 BPF_PROG(half_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	__u32 half = tp->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops")
void BPF_PROG(half_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (tp->snd_cwnd < tp->snd_ssthresh)
		tp->snd_cwnd += acked;
	else if (tp->snd_cwnd < tp->snd_cwnd_clamp)
		tp->snd_cwnd_cnt++;
}

SEC("struct_ops")
__u32 BPF_PROG(half_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops half = {
	.init = (void *)half_init,
	.ssthresh = (void *)half_ssthresh,
	.cong_avoid = (void *)half_cong_avoid,
	.undo_cwnd = (void *)half_undo_cwnd,
	.name = "bpf_half",
};

char LICENSE[] SEC("license") = "GPL";
