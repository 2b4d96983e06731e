/* Rejected by libbpf >= 1.3: the exception callback is a static function, which libbpf cannot pass to the kernel. */
/*
 * libbpf 1.4: prog 'guard_egress': cannot find exception callback 'drop_on_throw'
 * Nothing calls the static callback, so clang drops it from the object (bpf_throw() unwinds to
 * it through the kernel, not through a call). Marked __attribute__((used)) it stays, and libbpf
 * then says "exception callback drop_on_throw must be a global non-hidden function".
 * Fix: drop `static` (bpf_experimental.h's callbacks are global __noinline functions).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern void bpf_throw(u64 cookie) __ksym;
#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

static __noinline int drop_on_throw(u64 cookie)
{
	return cookie ? 2 : 0;
}

SEC("tc")
__exception_cb(drop_on_throw)
int guard_egress(struct __sk_buff *skb) /* EXPECT: error "cannot find exception callback 'drop_on_throw'" */
{
	if (skb->len > 9000)
		bpf_throw(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
