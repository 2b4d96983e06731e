/* Accepted: bpf_throw() with an exception callback (selftests' exceptions.c style); needs libbpf >= 1.3. */
/*
 * libbpf 1.1 cannot prepare it: "exception callback type id not found in func_info"
 * (the exception_callback:<name> decl tag is unknown to it). libbpf >= 1.3 passes the
 * callback to the kernel, which verifies it as its own subprogram and accepts both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* As in tools/testing/selftests/bpf/bpf_experimental.h */
extern void bpf_throw(u64 cookie) __ksym;
#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

__noinline int drop_on_throw(u64 cookie)
{
	return cookie ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
__exception_cb(drop_on_throw)
int guard_ingress(struct __sk_buff *skb)
{
	if (skb->len > 9000)
		bpf_throw(1); /* unwinds to drop_on_throw(1) */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
