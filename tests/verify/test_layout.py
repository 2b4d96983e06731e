"""The loaded layout maps verifier instruction numbers back to ELF functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.verify.layout import loaded_layout, locate
from kptr_lsp.verify.loader import verify_object

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

static __noinline int twice(int x)
{
	return x * 2 + (x & 7);
}

static __noinline int thrice(int x)
{
	return x * 3 + twice(x);
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	return thrice(ctx->ingress_ifindex) & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_subprograms_are_found_where_libbpf_appended_them(
    compile_bpf: Callable[[str | Path], bytes], kernel: None
) -> None:
    data = compile_bpf(SOURCE)
    obj = ObjectFile.parse(data)
    result = verify_object(data).programs[0]
    assert result.accepted
    prog = obj.programs[0]
    layout = loaded_layout(prog, obj.functions, result.insns)
    names = [p.function.name for p in layout]
    # libbpf appends callees in the order it meets the calls: thrice, then twice.
    assert names == ["entry", "thrice", "twice"]
    assert sum(p.function.count for p in layout) == len(result.insns) // 8
    thrice = layout[1]
    fn, insn_in_section = locate(layout, thrice.start + 1) or (None, -1)
    assert fn is not None and fn.name == "thrice"
    assert insn_in_section == thrice.function.start + 1
    assert locate(layout, len(result.insns) // 8) is None
