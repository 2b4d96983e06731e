/* Clean: a BPF LSM program (lsm/file_open) that denies opening files on a configured inode. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

const volatile __u64 protected_ino = 0;

SEC("lsm/file_open")
int BPF_PROG(restrict_open, struct file *file, int ret)
{
	if (ret != 0)
		return ret;
	if (protected_ino && file->f_inode->i_ino == protected_ino)
		return -EPERM;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
