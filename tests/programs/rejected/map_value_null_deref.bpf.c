/* Rejected: the result of bpf_map_lookup_elem is dereferenced without a NULL check. */
/*
 * Verifier (6.18): R0 invalid mem access 'map_value_or_null'
 * Fix: check count for NULL (insert a first value when the pid is new).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} syscalls_per_pid SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscalls(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 *count;

	count = bpf_map_lookup_elem(&syscalls_per_pid, &pid);
	*count += 1; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
