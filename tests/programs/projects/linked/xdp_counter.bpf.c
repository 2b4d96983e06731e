/* An XDP program whose helper, map and knob live in counters_lib.bpf.c: the project links both with `bpftool gen object`. */
/*
 * libbpf cannot open this object alone: it stops at the first extern it cannot place
 * (libbpf 1.4+: `failed to find BTF for extern 'lib_classify' [N] section: -2`, or for the map
 * `unrecognized extern section '.maps'`). Linked with counters_lib.bpf.o the programs verify.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} shared_counts SEC(".maps"); /* EXPECT: info "extern map `shared_counts` is not defined in this file" */
extern int lib_debug_level; /* EXPECT: info "extern variable `lib_debug_level`" */
extern int lib_count(u32 key); /* EXPECT: info "extern function `lib_count`" */
extern int lib_classify(u32 len) __attribute__((weak)); /* EXPECT: info "extern function `lib_classify`" */

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	u32 len = ctx->data_end - ctx->data;
	u32 big = 1;
	u64 *seen;

	lib_count(lib_classify(len));
	seen = bpf_map_lookup_elem(&shared_counts, &big);
	if (seen && lib_debug_level > 1)
		bpf_printk("%llu big packets", *seen);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
