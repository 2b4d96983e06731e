/* The same tool's next version, reading the arguments from the new mm and the binprm: accepted. */
#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "execsnoop.h"

const volatile uid_t targ_uid = -1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	uid_t uid = (u32)bpf_get_current_uid_gid();
	unsigned long arg_start, arg_end;
	struct event *e;
	long len;

	if (targ_uid != (uid_t)-1 && targ_uid != uid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(p, tgid);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	/* the arguments sit between mm->arg_start and mm->arg_end of the new image */
	arg_start = BPF_CORE_READ(p, mm, arg_start);
	arg_end = BPF_CORE_READ(p, mm, arg_end);
	len = arg_end - arg_start;
	if (len > ARGSIZE)
		len = ARGSIZE;
	if (len < 0)
		len = 0;
	e->args_size = len;
	if (bpf_probe_read_user(e->args, len & (ARGSIZE - 1), (void *)arg_start))
		e->args_size = 0;
	/* older kernels name the file in bprm->filename only */
	if (!e->args_size && bpf_core_field_exists(bprm->filename))
		bpf_probe_read_kernel_str(e->args, sizeof(e->args), BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
