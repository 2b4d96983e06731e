/* Clean: a ring buffer record reserved with bpf_ringbuf_reserve_dynptr is discarded on the error path and submitted otherwise. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
	__u32 pid;
	__u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(emit_fork, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;
	struct event *e;

	bpf_ringbuf_reserve_dynptr(&events, sizeof(*e), 0, &ptr);
	e = bpf_dynptr_data(&ptr, 0, sizeof(*e));
	if (!e) {
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		return 0;
	}

	e->pid = task->pid;
	e->tgid = task->tgid;
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
