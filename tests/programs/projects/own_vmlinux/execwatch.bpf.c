/* A project that ships its own (trimmed) vmlinux.h next to its common header: that one, not a generated one, is used. */
#include "include/common.h"

/* task_pid_t exists only in the project's vmlinux.h: a generated one would not compile. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, task_pid_t);
	__type(value, u64);
} execs SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	task_pid_t parent = BPF_CORE_READ(p, real_parent, tgid);
	u64 one = 1, *count;

	count = bpf_map_lookup_elem(&execs, &parent);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&execs, &parent, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
