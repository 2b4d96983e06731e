/* Rejected: the program exits without setting its return value (hand-written assembly). */
/*
 * Verifier (6.18): R0 !read_ok
 * Explained by catalogue entry r0-not-set (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("xdp")
__attribute__((naked)) int no_return_value(void)
{
	asm volatile("exit"); /* EXPECT: error "!read_ok" */
}

char LICENSE[] SEC("license") = "GPL";
