/* The sched_ext types this scheduler uses, as a sched_ext kernel (6.12+) defines them. */
/*
 * scx ships a vmlinux.h generated from a kernel built with CONFIG_SCHED_CLASS_EXT; the kernels
 * kptr-lsp's tests run on have no sched_ext, so their generated vmlinux.h has none of these
 * types. Only the members and constants used here, with the kernel's names and values
 * (kernel/sched/ext.c, include/linux/sched/ext.h).
 */
#pragma once

#define SCX_OPS_NAME_LEN 128

enum scx_public_consts {
	SCX_OPS_NAME_LEN_ = SCX_OPS_NAME_LEN,
	SCX_SLICE_DFL = 20 * 1000000, /* 20ms */
};

enum scx_dsq_id_flags {
	SCX_DSQ_FLAG_BUILTIN = 1LLU << 63,
	SCX_DSQ_LOCAL = SCX_DSQ_FLAG_BUILTIN | 2,
};

struct scx_exit_info;

struct sched_ext_ops {
	s32 (*select_cpu)(struct task_struct *p, s32 prev_cpu, u64 wake_flags);
	void (*enqueue)(struct task_struct *p, u64 enq_flags);
	void (*dequeue)(struct task_struct *p, u64 deq_flags);
	void (*dispatch)(s32 cpu, struct task_struct *prev);
	s32 (*init)(void);
	void (*exit)(struct scx_exit_info *info);
	u32 dispatch_max_batch;
	u64 flags;
	u32 timeout_ms;
	u32 exit_dump_len;
	u64 hotplug_seq;
	char name[SCX_OPS_NAME_LEN];
};
