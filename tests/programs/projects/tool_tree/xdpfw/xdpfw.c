// SPDX-License-Identifier: GPL-2.0
/* xdpfw: user-space half. Loads the skeleton and attaches it; built for the host, not BPF. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/libbpf.h>
#include "xdpfw.h"
#include "xdpfw.skel.h"

int main(int argc, char **argv)
{
	struct xdpfw_bpf *skel;
	int ifindex;

	if (argc < 2) {
		fprintf(stderr, "usage: %s IFNAME\n", argv[0]);
		return 1;
	}
	ifindex = if_nametoindex(argv[1]);
	skel = xdpfw_bpf__open_and_load();
	if (!skel)
		return 1;
	if (!bpf_program__attach_xdp(skel->progs.xdp_filter, ifindex))
		fprintf(stderr, "attach: %d\n", -errno);
	xdpfw_bpf__destroy(skel);
	return 0;
}
