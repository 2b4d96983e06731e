/* A sched_ext scheduler in scx_simple's style with today's kfuncs (scx_bpf_dsq_insert, scx_bpf_dsq_move_to_local), in .struct_ops.link. */
/*
 * Needs libbpf >= 1.4 (.struct_ops.link, struct_ops.s/) and a kernel with sched_ext: Debian's
 * 7.3 accepts every program (tests/targets/test_target_suites.py). This host kernel has no
 * `struct sched_ext_ops` in its BTF, so here it cannot be verified (Information, not an Error).
 * The old names scx_bpf_dispatch/scx_bpf_consume (scx_minimal/) are gone from 7.3.
 */
#include "../scx_minimal/scx/common.bpf.h"

char _license[] SEC("license") = "GPL";

void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags) __ksym;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym;

#define FIFO_DSQ 0

s32 BPF_STRUCT_OPS(fifo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle)
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

void BPF_STRUCT_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dsq_insert(p, FIFO_DSQ, SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(fifo_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_dsq_move_to_local(FIFO_DSQ);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(fifo_init)
{
	return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

SCX_OPS_DEFINE(fifo_ops, /* EXPECT: info "struct sched_ext_ops" */
	       .select_cpu		= (void *)fifo_select_cpu,
	       .enqueue			= (void *)fifo_enqueue,
	       .dispatch		= (void *)fifo_dispatch,
	       .init			= (void *)fifo_init,
	       .name			= "fifo");
