/* A syscall tracer that copies the user's buffer into a ring-buffer event, as bcc's and
 * libbpf-tools' tracers do; the length comes from the syscall's argument and is never
 * clamped to the event's buffer. The verifier rejects the copy; the fix belongs where the
 * length is computed. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_DATA 256

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
	len = ctx->args[2]; /* RELATED: computed */
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->len = len;
	bpf_probe_read_user(e->data, len, (void *)ctx->args[1]); /* EXPECT: error "R2" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
