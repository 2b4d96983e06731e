/* Rejected: a loop with a data-dependent branch in every iteration exhausts the verifier's jump history. */
/*
 * Verifier (6.18): The sequence of 8193 jumps is too complex.
 * Explained by catalogue entry too-complex (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tracepoint/syscalls/sys_enter_openat")
int too_complex(void *ctx)
{
	u64 acc = 0;

	for (int i = 0; i < 100000; i++) {
		if (bpf_get_prandom_u32() & 1) /* EXPECT: error "The sequence of 8193 jumps is too complex." */
			acc += i;
		else
			acc ^= i;
	}
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
