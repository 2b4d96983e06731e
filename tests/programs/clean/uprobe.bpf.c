/* Clean: a uprobe/uretprobe pair on bash's readline, without vmlinux.h (pt_regs from the UAPI headers). */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct line {
	__u32 pid;
	char text[80];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} lines SEC(".maps");

SEC("uretprobe//bin/bash:readline")
int BPF_KRETPROBE(readline_ret, const char *ret)
{
	struct line l = {};

	if (!ret)
		return 0;
	l.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_probe_read_user_str(l.text, sizeof(l.text), ret);
	bpf_perf_event_output(ctx, &lines, BPF_F_CURRENT_CPU, &l, sizeof(l));
	return 0;
}

SEC("uprobe//bin/bash:readline")
int BPF_KPROBE(readline_entry, const char *prompt)
{
	char p[16];

	bpf_probe_read_user_str(p, sizeof(p), prompt);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
