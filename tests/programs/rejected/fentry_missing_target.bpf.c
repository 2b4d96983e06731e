/* Rejected by libbpf at load: fentry on a kernel function that does not exist (a misspelled target). */
/*
 * libbpf 1.1.2: prog 'on_unlink': failed to find kernel BTF type ID of 'do_unlinkat_typo': -3
 *               prog 'on_unlink': failed to prepare load attributes: -3   (ESRCH)
 * No verifier log: libbpf resolves the target before BPF_PROG_LOAD. The diagnostic belongs on the
 * function line (the program's func_info line), one below its SEC().
 * Severity info: a missing target may be this kernel's build, not the code.
 * Fix: SEC("fentry/do_unlinkat").
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("fentry/do_unlinkat_typo")
int BPF_PROG(on_unlink, int dfd, struct filename *name) /* EXPECT: info "failed to find kernel BTF type ID of 'do_unlinkat_typo'" */
{
	bpf_printk("unlink dfd=%d", dfd);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
