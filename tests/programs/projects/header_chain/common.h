/* What every tool of this project shares: kernel types and libbpf, included once here (libbpf-tools style). */
#ifndef __COMMON_H
#define __COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define COMM_LEN 16

struct exec_event {
	u32 pid;
	u32 ppid;
	u64 exec_count;
	char comm[COMM_LEN];
};

#endif /* __COMMON_H */
