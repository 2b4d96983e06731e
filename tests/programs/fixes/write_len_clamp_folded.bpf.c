/* Rejected: a write() tracer copies the user buffer with the syscall's own length, never bounded by the event's buffer. */
/*
 * Verifier (6.18): R2 min value is negative, either use unsigned or 'var &= const'
 * Fix: leave early when the length exceeds the buffer. Clamping it instead
 * (`if (len > sizeof(e->data)) len = sizeof(e->data);`) is not enough here: clang keeps
 * the 64-bit value for the call and the verifier still sees it unbounded.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAX_DATA 64

struct event {
	__u32 pid;
	__u32 len;
	char data[MAX_DATA];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} scratch SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_write")
int trace_write(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0;
	struct event *e;
	__u32 len;

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	len = ctx->args[2];
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->len = len;
	bpf_probe_read_user(e->data, len, (void *)ctx->args[1]); /* EXPECT: error "R2 min value is negative" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
