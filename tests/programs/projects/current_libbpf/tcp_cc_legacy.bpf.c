/* Accepted: a tcp_congestion_ops in SEC(".struct_ops"), the pre-6.4 way (bpf_cubic/bpf_dctcp before BPF links), which Linux 6.1 loads too. */
/*
 * Both libbpf 1.1 and 1.4 prepare this form, and the kernel accepts each program: the
 * counterpart of tcp_cc_link.bpf.c that kernels without struct_ops links (< 6.4) load, so the
 * 6.1 target kernel judges it too. Loaded only: nothing is registered (libbpf registers on
 * attach).
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
void BPF_PROG(legacy_half_init, struct sock *sk)
{
	tcp_sk(sk)->snd_ssthresh = TCP_INFINITE_SSTHRESH;
}

SEC("struct_ops")
__u32 BPF_PROG(legacy_half_ssthresh, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	__u32 half = tp->snd_cwnd >> 1;

	return half > 2 ? half : 2;
}

SEC("struct_ops")
void BPF_PROG(legacy_half_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (tp->snd_cwnd < tp->snd_ssthresh)
		tp->snd_cwnd += acked;
	else if (tp->snd_cwnd < tp->snd_cwnd_clamp)
		tp->snd_cwnd_cnt++;
}

SEC("struct_ops")
__u32 BPF_PROG(legacy_half_undo_cwnd, struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops legacy_half = {
	.init = (void *)legacy_half_init,
	.ssthresh = (void *)legacy_half_ssthresh,
	.cong_avoid = (void *)legacy_half_cong_avoid,
	.undo_cwnd = (void *)legacy_half_undo_cwnd,
	.name = "bpf_legacy_half",
};

char LICENSE[] SEC("license") = "GPL";
