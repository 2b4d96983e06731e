// SPDX-License-Identifier: GPL-2.0
/* opensnoop: user-space half, printing the ring buffer's events; built for the host. */
#include <stdio.h>
#include <bpf/libbpf.h>
#include "opensnoop.h"
#include "opensnoop.skel.h"

static int handle_event(void *ctx, void *data, size_t len)
{
	const struct event *e = data;

	printf("%-6u %-16s %s\n", e->pid, e->comm, e->fname);
	return 0;
}

int main(void)
{
	struct opensnoop_bpf *obj = opensnoop_bpf__open_and_load();
	struct ring_buffer *rb;

	if (!obj || opensnoop_bpf__attach(obj))
		return 1;
	rb = ring_buffer__new(bpf_map__fd(obj->maps.events), handle_event, NULL, NULL);
	while (rb && ring_buffer__poll(rb, 100) >= 0)
		;
	ring_buffer__free(rb);
	opensnoop_bpf__destroy(obj);
	return 0;
}
