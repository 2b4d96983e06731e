/* Clean: hash, array, per-CPU and ring buffer maps plus const volatile (.rodata) flags and global .data/.bss variables. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* set by the loader before load (skeleton ->rodata) */
const volatile __u32 target_tgid = 0;
const volatile bool verbose = false;

/* global data: .data and .bss */
__u64 events_seen = 1;
__u64 events_dropped;
static volatile __u32 last_cpu;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} per_pid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} per_syscall SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} per_pid_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

struct event {
	__u32 tgid;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* raw_syscalls/sys_enter: common header (8 bytes) then long id, unsigned long args[6] */
struct sys_enter_args {
	__u64 common;
	long id;
	unsigned long args[6];
};

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct sys_enter_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 nr = ctx->id, zero = 0;
	__u64 one = 1, *n;
	struct event *e;

	if (target_tgid && tgid != target_tgid)
		return 0;

	n = bpf_map_lookup_elem(&per_pid, &tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&per_pid, &tgid, &one, BPF_NOEXIST);

	n = bpf_map_lookup_elem(&per_syscall, &nr);
	if (n)
		__sync_fetch_and_add(n, 1);

	n = bpf_map_lookup_elem(&per_pid_percpu, &tgid);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&per_pid_percpu, &tgid, &one, BPF_NOEXIST);

	n = bpf_map_lookup_elem(&total, &zero);
	if (n)
		*n += 1;

	last_cpu = bpf_get_smp_processor_id();
	__sync_fetch_and_add(&events_seen, 1);
	if (!verbose)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return 0;
	}
	e->tgid = tgid;
	e->nr = nr;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
