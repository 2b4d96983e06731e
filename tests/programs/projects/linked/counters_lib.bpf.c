/* A BPF library object: a helper, a map and a knob that other objects use once linked with `bpftool gen object`. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} shared_counts SEC(".maps");

int lib_debug_level = 1;

__noinline int lib_count(u32 key)
{
	u64 one = 1, *v;

	v = bpf_map_lookup_elem(&shared_counts, &key);
	if (!v)
		return bpf_map_update_elem(&shared_counts, &key, &one, BPF_NOEXIST);
	__sync_fetch_and_add(v, lib_debug_level);
	return 0;
}

__weak int lib_classify(u32 len)
{
	return len > 1500 ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
