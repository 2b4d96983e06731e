/* vmlinux.h reached two headers deep (prog -> "maps.bpf.h" -> "common.h" -> "vmlinux.h"): accepted. */
#include "maps.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} execs_per_parent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	static const u64 zero;
	struct exec_event *e;
	u32 ppid;
	u64 *count;

	ppid = BPF_CORE_READ(p, real_parent, tgid);
	count = bpf_map_lookup_or_try_init(&execs_per_parent, &ppid, &zero);
	if (!count)
		return 0;
	__sync_fetch_and_add(count, 1);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(p, tgid);
	e->ppid = ppid;
	e->exec_count = *count;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
