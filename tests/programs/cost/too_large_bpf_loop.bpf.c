/* Accepted: catalogue/too_large.bpf.c's million iterations through bpf_loop(), whose callback is verified once. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

static long add_one(__u64 i, __u64 *acc)
{
	*acc += i;
	return 0;
}

SEC("xdp")
int count_a_lot(struct xdp_md *ctx)
{
	__u64 acc = 0;

	bpf_loop(1000000, add_one, &acc, 0);
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
