/* Rejected: nine nested function calls, more than the verifier's eight frames. */
/*
 * Verifier (6.18): the call stack of 9 frames is too deep
 * Explained by catalogue entry call-stack-too-deep (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

static __noinline int f8(int x)
{
	return x * 3;
}

static __noinline int f7(int x) { return f8(x + 1) + 1; }
static __noinline int f6(int x) { return f7(x + 1) + 1; } /* EXPECT: error "the call stack of 9 frames is too deep" */
static __noinline int f5(int x) { return f6(x + 1) + 1; }
static __noinline int f4(int x) { return f5(x + 1) + 1; }
static __noinline int f3(int x) { return f4(x + 1) + 1; }
static __noinline int f2(int x) { return f3(x + 1) + 1; }
static __noinline int f1(int x) { return f2(x + 1) + 1; }
static __noinline int f0(int x) { return f1(x + 1) + 1; }

SEC("xdp")
int deep(struct xdp_md *ctx)
{
	return f0(ctx->ingress_ifindex) & 1;
}

char LICENSE[] SEC("license") = "GPL";
