/* A tracing tool whose programs target functions some kernels renamed; only those get an Information. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/*
 * On kernel 6.18 with libbpf 1.1.2:
 * - fentry/tp_btf programs whose target is not in the kernel's BTF never reach the verifier:
 *   libbpf: prog 'exit_old_name': failed to find kernel BTF type ID of
 *   'sched_process_exit_old': -3 (the tool disables such programs at run time);
 * - the kprobe and the existing tp_btf programs are verified normally, and a real bug in
 *   the shared helper is still an Error, once, naming both programs that call it.
 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} calls SEC(".maps");

static __noinline int record(u32 pid)
{
	u64 *n = bpf_map_lookup_elem(&calls, &pid);

	*n += 1; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(kprobe_vfs_read, struct file *file)
{
	u64 one = 1;
	u32 pid = bpf_get_current_pid_tgid() >> 32;

	bpf_map_update_elem(&calls, &pid, &one, BPF_ANY);
	return 0;
}

/* Loads on kernels with BPF trampolines; where they are refused, an Information says so. */
SEC("fentry/vfs_write")
int BPF_PROG(fentry_vfs_write, struct file *file)
{
	return 0;
}

/* The tool sets the real target with bpf_program__set_attach_target() at run time. */
SEC("fentry/dummy_fentry_target")
int BPF_PROG(fentry_dummy) /* EXPECT: info "attach target is not in this kernel" */
{
	return 0;
}

SEC("tp_btf/sched_process_exit_old")
int BPF_PROG(exit_old_name, struct task_struct *p) /* EXPECT: info "sched_process_exit_old" */
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid)
{
	return record(p->pid);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	return record(child->pid);
}

char LICENSE[] SEC("license") = "GPL";
