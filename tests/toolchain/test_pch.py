"""The vmlinux.h PCH: used only for files that open with that include block, and a compile
with it says and produces what a compile without it does. Real clang."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.elf.objfile import ObjectFile
from kptr_lsp.toolchain import pch
from kptr_lsp.toolchain.compile import CompileOptions, compile_buffer

SOURCE = """\
/* a program */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	char verdict = 300; /* a warning clang gives without -W flags */

	return ctx->ingress_ifindex ? XDP_PASS : verdict;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_only_a_leading_vmlinux_block_is_precompiled() -> None:
    assert pch.leading_includes(SOURCE) == (
        '#include "vmlinux.h"',
        "#include <bpf/bpf_helpers.h>",
    )
    # A macro before the include changes what vmlinux.h means: no PCH.
    assert pch.leading_includes("#define BPF_NO_PRESERVE_ACCESS_INDEX\n" + SOURCE) is None
    assert pch.leading_includes('#include <linux/bpf.h>\n#include "vmlinux.h"\n') is None


def test_compile_with_the_pch_matches_the_compile_without(
    tmp_path: Path, fresh_cache: Path
) -> None:
    src = tmp_path / "prog.bpf.c"
    src.write_text(SOURCE)
    options = CompileOptions(use_compile_commands=False)
    plain = compile_buffer(str(src), SOURCE, options=options)  # starts the PCH build
    pch.CACHE.wait()
    with_pch = compile_buffer(str(src), SOURCE, options=options)

    assert "-include-pch" in with_pch.command and "-include-pch" not in plain.command
    assert any((fresh_cache / "kptr-lsp" / "pch").glob("*.pch"))
    # the same warning on the same spot, the same headers named, the same instructions
    assert with_pch.findings == plain.findings
    assert [f.line for f in plain.findings] == [8]
    assert "changes value from 300" in plain.findings[0].message
    assert with_pch.headers == plain.headers
    assert plain.obj is not None and with_pch.obj is not None
    code = [(f.name, f.insns) for f in ObjectFile.parse(plain.obj).programs]
    assert [(f.name, f.insns) for f in ObjectFile.parse(with_pch.obj).programs] == code
