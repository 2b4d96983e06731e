/* Rejected: a ring buffer record reserved with bpf_ringbuf_reserve_dynptr is neither submitted nor discarded. */
/*
 * Verifier (6.18): Unreleased reference id=2 alloc_insn=8
 *                   BPF_EXIT instruction in main prog would lead to reference leak
 * alloc_insn 8 is the bpf_ringbuf_reserve_dynptr call; the leaking path is `if (!e) return 0;`
 * (its exit instruction's line_info is the BPF_PROG line).
 * Fix: call bpf_ringbuf_discard_dynptr(&ptr, 0) before that return.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
	__u32 pid;
	__u32 ppid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(emit_fork, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct bpf_dynptr ptr;
	struct event *e;

	bpf_ringbuf_reserve_dynptr(&events, sizeof(*e), 0, &ptr); /* EXPECT: error "Unreleased reference" */
	e = bpf_dynptr_data(&ptr, 0, sizeof(*e));
	if (!e)
		return 0;

	e->pid = task->pid;
	e->ppid = task->tgid;
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
