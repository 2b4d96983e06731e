/* The project's one header for BPF code: `<vmlinux.h>` in angle brackets, libbpf, shared helpers. */
#ifndef __COMMON_BPF_H
#define __COMMON_BPF_H

#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 27
#define AF_INET 2 /* a macro in <sys/socket.h>: not in BTF */

struct hist {
	u32 slots[MAX_SLOTS];
};

/* bcc libbpf-tools' bits.bpf.h */
static __always_inline u64 log2(u32 v)
{
	u32 shift, r;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline u64 log2l(u64 v)
{
	u32 hi = v >> 32;

	if (hi)
		return log2(hi) + 32;
	return log2(v);
}

#endif /* __COMMON_BPF_H */
