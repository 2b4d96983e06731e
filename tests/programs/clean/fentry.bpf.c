/* Clean: fentry/fexit pair on do_unlinkat (BPF trampolines); arguments are typed BTF pointers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_entry, int dfd, struct filename *name)
{
	pid_t pid = bpf_get_current_pid_tgid() >> 32;

	bpf_printk("unlinkat pid=%d name=%s", pid, name->name);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(unlink_exit, int dfd, struct filename *name, long ret)
{
	pid_t pid = bpf_get_current_pid_tgid() >> 32;

	bpf_printk("unlinkat pid=%d ret=%ld", pid, ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
