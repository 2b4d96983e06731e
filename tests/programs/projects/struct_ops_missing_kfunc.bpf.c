/* A TCP congestion control in struct_ops (selftests bpf_cc style) whose cong_avoid calls a kfunc this kernel lacks. */
/*
 * As compiled, libbpf fails the object on
 *   extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs
 * and, with the kfunc bound weak, libbpf (1.4+) still loads every program of the struct_ops map
 * with the map, so cc_cong_avoid's failure would fail the other two. kptr-lsp verifies them
 * with cc_cong_avoid taken out of the map: the kernel accepts both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

extern void bpf_nonexistent_kfunc(struct sock *sk) __ksym;
extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

SEC("struct_ops")
void BPF_PROG(cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	bpf_nonexistent_kfunc(sk); /* EXPECT: error "extern (func ksym) 'bpf_nonexistent_kfunc': not found in kernel or module BTFs" */
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
__u32 BPF_PROG(cc_ssthresh, struct sock *sk)
{
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops")
__u32 BPF_PROG(cc_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops.link")
struct tcp_congestion_ops kptr_cc = {
	.cong_avoid = (void *)cc_cong_avoid,
	.ssthresh = (void *)cc_ssthresh,
	.undo_cwnd = (void *)cc_undo_cwnd,
	.name = "kptr_cc",
};
