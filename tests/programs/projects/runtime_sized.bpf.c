/* A profiler in bcc libbpf-tools style: maps sized by userspace at run time, rodata options. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Set by the tool's userspace before load (from its command line). */
const volatile bool kernel_stacks_only = false;
const volatile pid_t targ_tgid = -1;

struct key_t {
	u32 pid;
	int kern_stack_id;
	int user_stack_id;
};

struct event {
	u32 pid;
	u64 count;
};

/* The tool calls bpf_map__set_value_size(stackmap, perf_max_stack_depth * 8) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(key_size, sizeof(u32));
} stackmap SEC(".maps"); /* EXPECT: info "value_size 1016 bytes" */

/* ... and bpf_map__set_max_entries(counts, env.max_entries). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct key_t);
	__type(value, u64);
} counts SEC(".maps"); /* EXPECT: info "placeholder of max_entries 1" */

/* ... and sizes the ring buffer from --buffer-pages. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
} events SEC(".maps"); /* EXPECT: info "leaves its size (max_entries 0) to be set by its userspace" */

/* libbpf sizes a perf event array itself (one slot per CPU): nothing to say about it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct key_t key = {};
	struct event *e;
	u64 *count, one = 1;

	if (targ_tgid != -1 && targ_tgid != prev->tgid)
		return 0;
	key.pid = prev->pid;
	key.kern_stack_id = bpf_get_stackid(ctx, &stackmap, 0);
	key.user_stack_id = kernel_stacks_only ? -1 : bpf_get_stackid(ctx, &stackmap, BPF_F_USER_STACK);
	count = bpf_map_lookup_elem(&counts, &key);
	if (!count) {
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
		return 0;
	}
	__sync_fetch_and_add(count, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = key.pid;
	e->count = *count;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
