/* Rejected by clang: a use of an undeclared identifier (a typo in a variable name); never reaches the verifier. */
/*
 * clang-19: error: use of undeclared identifier 'acton'; did you mean 'action'?
 * (column 9; a note points at line 8 where 'action' is declared)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	int action = XDP_PASS;

	return acton; /* EXPECT: error "use of undeclared identifier 'acton'" */
}

char LICENSE[] SEC("license") = "GPL";
