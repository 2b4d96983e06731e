/* A sched_ext scheduler in scx_simple's style (one global FIFO queue), on a kernel without sched_ext. */
/*
 * This kernel's BTF has no `struct sched_ext_ops` and no scx_bpf_* kfuncs. libbpf 1.4+:
 *   extern (func ksym) 'scx_bpf_create_dsq': not found in kernel or module BTFs
 * and, with the kfuncs out of the way,
 *   struct_ops init_kern: struct sched_ext_ops is not found in kernel BTF
 * Nothing is wrong with the code: it cannot be verified in a kernel without sched_ext.
 * Debian's 7.3 has sched_ext but no longer the 6.12 names scx_bpf_dispatch/scx_bpf_consume
 * (now scx_bpf_dsq_insert/scx_bpf_dsq_move_to_local): there only the programs calling them
 * fail, and minimal_init is accepted (tests/targets/test_target_missing.py).
 */
#include "scx/common.bpf.h"

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ 0

s32 BPF_STRUCT_OPS(minimal_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle)
		scx_bpf_dispatch(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	return cpu;
}

void BPF_STRUCT_OPS(minimal_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_bpf_dispatch(p, SHARED_DSQ, SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(minimal_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_bpf_consume(SHARED_DSQ);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(minimal_init)
{
	return scx_bpf_create_dsq(SHARED_DSQ, -1);
}

SCX_OPS_DEFINE(minimal_ops, /* EXPECT: info "struct sched_ext_ops" */
	       .select_cpu		= (void *)minimal_select_cpu,
	       .enqueue			= (void *)minimal_enqueue,
	       .dispatch		= (void *)minimal_dispatch,
	       .init			= (void *)minimal_init,
	       .name			= "minimal");
