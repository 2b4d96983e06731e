"""The sample BPF object the btf tests share: source text and what parsing it yields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kptr_lsp.btf import Spec
from kptr_lsp.elf import ObjectFile

SAMPLE_SOURCE = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __kptr __attribute__((btf_type_tag("kptr")))

struct kl_flags { unsigned int a : 3; unsigned int b : 5; int c; };
union kl_either { int i; long l; };
enum kl_big { KL_SMALL = -1, KL_BIG = 0x100000000LL };
typedef int kl_a;
typedef kl_a kl_b;
typedef const kl_b kl_c;
struct kl_opaque;
struct kl_node { int key; struct kl_node *next; };
struct kl_val {
	struct task_struct __kptr *task;
	struct kl_node __kptr *node;
	struct kl_flags f;
	union kl_either e;
	enum kl_big big;
	kl_c c;
	struct kl_opaque *opaque;
	struct kl_node head; /* a full definition, so the kptr points at a Struct */
	int tagged __attribute__((btf_decl_tag("x")));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct kl_val);
} kl_map SEC(".maps");

static __noinline int kl_helper(int x)
{
	return x * 3 + 1;
}

SEC("xdp")
int kl_xdp(struct xdp_md *ctx)
{
	int key = 0;
	struct kl_val *v = bpf_map_lookup_elem(&kl_map, &key);
	if (!v)
		return XDP_PASS;
	return kl_helper(v->tagged) ? XDP_PASS : XDP_DROP;
}

SEC("tp/syscalls/sys_enter_openat")
int kl_tp(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	return kl_helper(BPF_CORE_READ(t, pid));
}

char LICENSE[] SEC("license") = "GPL";
"""


@dataclass(frozen=True)
class Sample:
    path: Path
    raw: bytes  # the object as clang wrote it
    obj: ObjectFile
    spec: Spec

    def line_of(self, needle: str) -> int:
        """1-based line of the first source line containing `needle`."""
        for number, text in enumerate(self.path.read_text().splitlines(), start=1):
            if needle in text:
                return number
        raise AssertionError(f"{needle!r} not in the sample source")
