/* Rejected: a record from bpf_ringbuf_reserve is filled in but never submitted (Unreleased reference). */
/*
 * Verifier (6.18): Unreleased reference id=2 alloc_insn=6
 *                   BPF_EXIT instruction in main prog would lead to reference leak
 * alloc_insn 6 is the bpf_ringbuf_reserve call.
 * Fix: bpf_ringbuf_submit(e, 0) (or bpf_ringbuf_discard) before returning.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
	__u32 pid;
	__u64 clone_flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(emit_fork, struct task_struct *task, u64 clone_flags) /* RELATED: exit */
{
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0); /* EXPECT: error "Unreleased reference" */
	if (!e)
		return 0;

	e->pid = task->pid;
	e->clone_flags = clone_flags;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
