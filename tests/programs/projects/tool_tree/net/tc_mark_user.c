// SPDX-License-Identifier: GPL-2.0
/* tc_mark: attaches the classifier with libbpf's TC hooks; user space, built for the host. */
#include <net/if.h>
#include <stdio.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);

	hook.ifindex = if_nametoindex(argc > 1 ? argv[1] : "lo");
	return bpf_tc_hook_create(&hook) ? 1 : 0;
}
