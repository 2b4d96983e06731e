/* Rejected: the exception callback named for bpf_throw() takes two arguments; it gets only the cookie. */
/*
 * Verifier (6.18): exception cb only supports single integer argument
 * Explained by catalogue entry exception-callback-signature (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

extern void bpf_throw(__u64 cookie) __ksym;
#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

__noinline int on_throw(__u64 cookie, int verdict)
{
	return verdict;
}

SEC("tc")
__exception_cb(on_throw)
int short_frame(struct __sk_buff *skb) /* EXPECT: error "exception cb only supports single integer argument" */
{
	if (skb->len < 14)
		bpf_throw(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
