/* One object with 65 programs, like a lock-contention tool: one probe pair per lock function, one bad program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/*
 * 32 kprobe/kretprobe pairs stamped from one macro (every one loads), plus one hand-written
 * program with a real bug: only it gets an Error. Each program is verified in its own load,
 * so verification time grows with the number of programs (see bench/real_projects.py).
 */

struct lock_stat {
	u64 acquired;
	u64 wait_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, struct lock_stat);
} stats SEC(".maps");

static __always_inline int lock_enter(void)
{
	u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();

	bpf_map_update_elem(&start, &id, &now, BPF_ANY);
	return 0;
}

static __always_inline int lock_exit(u32 lock)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 *t0 = bpf_map_lookup_elem(&start, &id);
	struct lock_stat *s, zero = {};

	if (!t0)
		return 0;
	s = bpf_map_lookup_elem(&stats, &lock);
	if (!s) {
		bpf_map_update_elem(&stats, &lock, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&stats, &lock);
		if (!s)
			goto out;
	}
	__sync_fetch_and_add(&s->acquired, 1);
	__sync_fetch_and_add(&s->wait_ns, bpf_ktime_get_ns() - *t0);
out:
	bpf_map_delete_elem(&start, &id);
	return 0;
}

#define LOCK_PROBES(n, fn)                                  \
	SEC("kprobe/" #fn)                                  \
	int BPF_KPROBE(enter_##fn) { return lock_enter(); } \
	SEC("kretprobe/" #fn)                               \
	int BPF_KRETPROBE(exit_##fn) { return lock_exit(n); }

LOCK_PROBES(0, mutex_lock)
LOCK_PROBES(1, mutex_lock_interruptible)
LOCK_PROBES(2, mutex_lock_killable)
LOCK_PROBES(3, mutex_trylock)
LOCK_PROBES(4, down_read)
LOCK_PROBES(5, down_read_interruptible)
LOCK_PROBES(6, down_read_killable)
LOCK_PROBES(7, down_read_trylock)
LOCK_PROBES(8, down_write)
LOCK_PROBES(9, down_write_killable)
LOCK_PROBES(10, down_write_trylock)
LOCK_PROBES(11, _raw_spin_lock)
LOCK_PROBES(12, _raw_spin_lock_irq)
LOCK_PROBES(13, _raw_spin_lock_irqsave)
LOCK_PROBES(14, _raw_spin_lock_bh)
LOCK_PROBES(15, _raw_spin_trylock)
LOCK_PROBES(16, _raw_read_lock)
LOCK_PROBES(17, _raw_read_lock_irq)
LOCK_PROBES(18, _raw_read_lock_irqsave)
LOCK_PROBES(19, _raw_read_lock_bh)
LOCK_PROBES(20, _raw_write_lock)
LOCK_PROBES(21, _raw_write_lock_irq)
LOCK_PROBES(22, _raw_write_lock_irqsave)
LOCK_PROBES(23, _raw_write_lock_bh)
LOCK_PROBES(24, rt_mutex_lock)
LOCK_PROBES(25, rt_mutex_trylock)
LOCK_PROBES(26, ww_mutex_lock)
LOCK_PROBES(27, ww_mutex_lock_interruptible)
LOCK_PROBES(28, percpu_down_write)
LOCK_PROBES(29, __percpu_down_read)
LOCK_PROBES(30, down)
LOCK_PROBES(31, down_interruptible)

SEC("kretprobe/mutex_unlock")
int BPF_KRETPROBE(exit_mutex_unlock)
{
	u32 lock = 32;
	struct lock_stat *s = bpf_map_lookup_elem(&stats, &lock);

	s->acquired = 0; /* EXPECT: error "invalid mem access 'map_value_or_null'" */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
