/* Rejected, with vmlinux.h two headers deep: a map value is dereferenced without a NULL check. */
/*
 * Verifier (6.18): R0 invalid mem access 'map_value_or_null'
 * Fix: use bpf_map_lookup_or_try_init() from maps.bpf.h, or check the lookup for NULL.
 */
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} execs_per_parent SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(count_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u32 ppid = BPF_CORE_READ(p, real_parent, tgid);
	u64 *count;

	count = bpf_map_lookup_elem(&execs_per_parent, &ppid);
	*count += 1; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
