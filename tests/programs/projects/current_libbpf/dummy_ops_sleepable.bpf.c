/* Accepted: a sleepable struct_ops program, SEC("struct_ops.s/..."), in the kernel's bpf_dummy_ops (selftests' dummy_st_ops_success.c). */
/*
 * libbpf 1.1 has no "struct_ops.s/" section: "missing BPF prog type, check ELF section name
 * 'struct_ops.s/test_sleepable'". libbpf >= 1.4 loads it sleepable and the kernel accepts it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("struct_ops/test_1")
int BPF_PROG(test_1, struct bpf_dummy_ops_state *state)
{
	int ret;

	if (!state)
		return 0xf2f3f4f5;

	ret = state->val;
	state->val = 0x5a;
	return ret;
}

SEC("struct_ops.s/test_sleepable")
int BPF_PROG(test_sleepable, struct bpf_dummy_ops_state *state)
{
	return 0;
}

SEC(".struct_ops.link")
struct bpf_dummy_ops dummy_1 = {
	.test_1 = (void *)test_1,
	.test_sleepable = (void *)test_sleepable,
};

char LICENSE[] SEC("license") = "GPL";
