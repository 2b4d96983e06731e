/* Rejected: six ways a program gets the BPF stack wrong (one program each), as seen in real tracers. */
/*
 * Verifier (6.18), one message per program:
 *   comm_prefix:     misaligned stack access off 0+0+-14 size 4
 *   peek_dynptr:     invalid read from stack off -16+0 size 8
 *   emit_with_ptr:   invalid read from stack R2 off -24+0 size 24
 *   short_comm:      invalid write to stack R1 off=-8 size=16
 *   mark_slot:       invalid variable-offset write to stack R2 var_off=(0x0; 0x1f) off=-16 size=1
 *   mark_signed:     value -2147483648 makes fp pointer be out of bounds
 * Explained by catalogue entries stack-misaligned, stack-read-special, stack-read-helper,
 * stack-access-out-of-frame, stack-variable-offset, pointer-offset-out-of-range
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
int BPF_PROG(comm_prefix, struct task_struct *task, u64 clone_flags)
{
	char comm[16] = {};
	__u32 word;

	bpf_probe_read_kernel(comm, sizeof(comm), task->comm);
	/* the 4 bytes after a 2-byte prefix, read as one u32 */
	word = *(volatile __u32 *)(comm + 2); /* EXPECT: error "misaligned stack access off 0+0+-14 size 4" */
	return word == 0x6b726f77;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(peek_dynptr, struct task_struct *task, u64 clone_flags)
{
	struct bpf_dynptr ptr;
	__u64 raw;

	bpf_ringbuf_reserve_dynptr(&events, 16, 0, &ptr);
	raw = *(volatile __u64 *)&ptr; /* EXPECT: error "invalid read from stack off -16+0 size 8" */
	bpf_ringbuf_discard_dynptr(&ptr, 0);
	return raw;
}

struct event {
	struct bpf_dynptr rec;
	__u32 pid;
};

SEC("tp_btf/task_newtask")
int BPF_PROG(emit_with_ptr, struct task_struct *task, u64 clone_flags)
{
	struct event e;

	e.pid = task->pid;
	bpf_ringbuf_reserve_dynptr(&events, 16, 0, &e.rec);
	bpf_ringbuf_output(&events, &e, sizeof(e), 0); /* EXPECT: error "invalid read from stack R2 off -24+0 size 24" */
	bpf_ringbuf_discard_dynptr(&e.rec, 0);
	return 0;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(short_comm, struct task_struct *task, u64 clone_flags)
{
	char comm[8];

	bpf_get_current_comm(comm, 16); /* EXPECT: error "invalid write to stack R1 off=-8 size=16" */
	return comm[0];
}

SEC("tp_btf/task_newtask")
int BPF_PROG(mark_slot, struct task_struct *task, u64 clone_flags)
{
	char seen[16] = {};
	__u32 cpu = task->pid;

	seen[cpu & 31] = 1; /* EXPECT: error "invalid variable-offset write to stack R2 var_off=(0x0; 0x1f) off=-16 size=1" */
	return seen[0];
}

SEC("tp_btf/task_newtask")
int BPF_PROG(mark_signed, struct task_struct *task, u64 clone_flags)
{
	char seen[16] = {};
	int slot = task->pid;

	if (slot < 16)
		seen[slot] = 1; /* EXPECT: error "value -2147483648 makes fp pointer be out of bounds" */
	return seen[0];
}

char LICENSE[] SEC("license") = "GPL";
