/* Accepted: libbpf >= 1.2 tracing macros (BPF_KSYSCALL, BPF_UPROBE) and bpf_ksym_exists(), without a vendored libbpf. */
/*
 * libbpf 1.1's headers lack all three (clang: "unknown type name" / implicit declaration);
 * kptr-lsp compiles against the current libbpf's headers that `make setup` fetched.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} opens SEC(".maps");

SEC("ksyscall/openat")
int BPF_KSYSCALL(trace_openat, int dfd, const char *pathname, int flags)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u64 one = 1, *count;

	count = bpf_map_lookup_elem(&opens, &pid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&opens, &pid, &one, BPF_ANY);
	return 0;
}

SEC("uprobe/libc.so.6:malloc")
int BPF_UPROBE(on_malloc, size_t size)
{
	bpf_printk("malloc(%lu)", size);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p)
{
	struct task_struct *held;

	if (!bpf_ksym_exists(bpf_task_acquire))
		return 0;
	held = bpf_task_acquire(p);
	if (held)
		bpf_task_release(held);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
