/* A hash map sized by a typo (1 << 24 entries of 4 KiB: 64 GiB) is refused before it is created. */
/*
 * kptr-lsp (not the kernel): map 'flows' would take 64.1 GiB of kernel memory (max_entries
 * 16777216 × (key 4 + value 4096) bytes), over the 256.0 MiB cap; the kernel would try to
 * preallocate all of it (BPF hash maps preallocate unless BPF_F_NO_PREALLOC).
 * Fix: a sensible max_entries, or raise the mapMemoryCapMb setting.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow {
	char payload[4096];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 24);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps"); /* EXPECT: error "map 'flows' would take 64.1 GiB of kernel memory" */

SEC("xdp")
int count_flows(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct flow *f = bpf_map_lookup_elem(&flows, &key);

	return f ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
