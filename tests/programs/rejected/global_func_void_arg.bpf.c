/* Rejected: a global function takes `void *`, so the verifier cannot size what the caller passes; the reason comes on its own line. */
/*
 * Verifier (6.18), on the call:
 *   arg#0 reference type('UNKNOWN ') size cannot be determined: -22
 *   Caller passes invalid args into func#1 ('hash_payload')
 * A global (non-static) function is verified on its own, from its BTF prototype: a pointer
 * argument must point to a type of known size (a `const __u8 *` is sized as one byte, so
 * the loop's reads fail instead). Fix: make the function `static` so it is verified with
 * its caller, or pass a pointer to a fixed-size struct.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define PAYLOAD_LEN 16

struct event {
	__u32 pid;
	__u32 hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

__noinline __u32 hash_payload(void *payload, __u32 len)
{
	__u8 *bytes = payload;
	__u32 h = 2166136261u;

	if (!bytes)
		return 0;
	for (__u32 i = 0; i < PAYLOAD_LEN && i < len; i++)
		h = (h ^ bytes[i]) * 16777619u;
	return h;
}

SEC("tp/syscalls/sys_enter_write")
int trace_write(struct trace_event_raw_sys_enter *ctx)
{
	__u8 payload[PAYLOAD_LEN] = {};
	struct event *e;

	bpf_probe_read_user(payload, sizeof(payload), (void *)ctx->args[1]);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->hash = hash_payload(payload, sizeof(payload)); /* EXPECT: error "arg#0 reference type('UNKNOWN ') size cannot be determined: -22" */ /* EXPECT: error "Caller passes invalid args into func#1 ('hash_payload')" */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
