/* Rejected: helper sizes and sized memory gone wrong, and dynptrs a helper would trample (one program each). */
/*
 * Verifier (6.18):
 *   comm_len_maybe_zero: R2 invalid zero-sized read: u64=[0,15]
 *   copy_unbounded:      R2 unbounded memory access, use 'var &= const' or 'if (var < const)'
 *   record_too_small:    invalid access to memory, mem_size=8 off=8 size=8
 *                        R0 min value is outside of the allowed memory range
 *   read_into_dynptr:    potential write to dynptr at off=-16 disallowed
 *   dynptr_in_arena:     cannot pass in dynptr at an offset=-20
 *                        Dynptr has to be an uninitialized dynptr
 * Explained by catalogue entries zero-sized-read, unbounded-memory-access,
 * memory-access-out-of-bounds, dynptr-overwritten-by-helper, dynptr-at-offset
 * (kptr_lsp/data/explanations.toml).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "../kptr_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/task_newtask")
int BPF_PROG(comm_len_maybe_zero, struct task_struct *task, u64 clone_flags)
{
	char comm[16];
	__u32 len = task->pid & 15;

	bpf_get_current_comm(comm, len); /* EXPECT: error "invalid zero-sized read" */
	return comm[0];
}

SEC("tp_btf/task_newtask")
int BPF_PROG(copy_unbounded, struct task_struct *task, u64 clone_flags)
{
	char buf[64];
	__u32 len = task->pid;

	bpf_probe_read_kernel(buf, len, task->comm); /* EXPECT: error "unbounded memory access" */
	return buf[0];
}

struct small_event {
	__u32 pid;
	__u32 tgid;
};

struct event {
	__u32 pid;
	__u32 tgid;
	__u64 start;
};

SEC("tp_btf/task_newtask")
int BPF_PROG(record_too_small, struct task_struct *task, u64 clone_flags)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(struct small_event), 0);

	if (!e)
		return 0;
	e->pid = task->pid;
	e->start = task->start_time; /* EXPECT: error "invalid access to memory, mem_size=8 off=8 size=8" */
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(read_into_dynptr, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr rec;

	bpf_ringbuf_reserve_dynptr(&events, 16, 0, &rec);
	bpf_probe_read_kernel(&rec, sizeof(rec), task->comm); /* EXPECT: error "potential write to dynptr at off=-16 disallowed" */
	bpf_ringbuf_discard_dynptr(&rec, 0);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(dynptr_in_arena, struct task_struct *task, u64 clone_flags)
{
	__u64 arena[3];
	struct bpf_dynptr *rec = (void *)arena + 4; /* after a 4-byte length */
	char buf[4];

	bpf_ringbuf_reserve_dynptr(&events, 16, 0, rec); /* EXPECT: error "cannot pass in dynptr at an offset=-20" */
	bpf_dynptr_read(buf, sizeof(buf), rec, 0, 0);
	bpf_ringbuf_discard_dynptr(rec, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
