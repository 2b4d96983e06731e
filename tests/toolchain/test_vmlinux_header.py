"""vmlinux.h: generated from kernel BTF like bpftool does, cached by content, never preferred
over the project's own."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.toolchain import (
    CompileOptions,
    ToolchainError,
    compile_buffer,
    ensure_vmlinux_h,
    vmlinux,
)

KERNEL_BTF = Path(VMLINUX_BTF)
PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
OPTS = CompileOptions(use_compile_commands=False)

PROG = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/task_newtask")
int BPF_PROG(on_fork, struct task_struct *task, u64 flags)
{
\treturn task->pid > 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

_DECL = re.compile(r"^(struct|union|enum) (\w+) \{|^typedef .*?\b(\w+)(?:\)\(.*\))?(?:\[\d*\])*;$")


def declared(header: str) -> set[str]:
    names = set()
    for line in header.splitlines():
        if m := _DECL.match(line):
            names.add(m[2] or m[3])
    return names


needs_btf = pytest.mark.skipif(not KERNEL_BTF.exists(), reason="kernel without BTF")


@needs_btf
def test_generated_header_matches_bpftool(xdg_cache: Path) -> None:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    if not os.access(bpftool, os.X_OK):
        pytest.skip("bpftool not installed")
    ours = (Path(ensure_vmlinux_h()) / "vmlinux.h").read_text()
    theirs = subprocess.run(
        [bpftool, "btf", "dump", "file", str(KERNEL_BTF), "format", "c"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Same guard and access-index pragma around the types…
    assert ours.startswith(vmlinux.PREAMBLE) and theirs.startswith(vmlinux.PREAMBLE)
    assert ours.endswith(vmlinux.TRAILER) and theirs.endswith(vmlinux.TRAILER)
    # …and the same declarations; spelling differs only with the libbpf version
    # (bpftool's bundled libbpf prints `(void)` where libbpf 1.1 prints `()`).
    assert declared(ours) == declared(theirs)
    assert len(declared(ours)) > 10000
    assert "struct task_struct {" in ours


@needs_btf
def test_program_with_vmlinux_h_compiles_and_reuses_the_cache(
    tmp_path: Path, fresh_cache: Path
) -> None:
    src = tmp_path / "fork.bpf.c"
    src.write_text(PROG)
    first = compile_buffer(str(src), PROG, options=OPTS)
    assert first.findings == ()
    assert first.obj is not None

    digest = hashlib.sha256(KERNEL_BTF.read_bytes()).hexdigest()
    header = fresh_cache / "kptr-lsp" / "vmlinux" / digest / "vmlinux.h"
    assert header.is_file()
    assert str(header.parent) in first.command
    assert os.listdir(header.parent) == ["vmlinux.h"]  # no temp file left next to it
    stamp = header.stat().st_mtime_ns

    second = compile_buffer(str(src), PROG.replace("> 0", ">= 1"), options=OPTS)
    assert second.obj is not None
    assert header.stat().st_mtime_ns == stamp
    assert os.listdir(tmp_path) == ["fork.bpf.c"]


def test_local_vmlinux_h_is_preferred(tmp_path: Path, fresh_cache: Path) -> None:
    # A trimmed project header: the program only compiles if this one is used.
    (tmp_path / "vmlinux.h").write_text(
        "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"
        "typedef unsigned int __u32;\ntypedef struct { int only_here; } local_marker_t;\n"
        "#endif\n"
    )
    text = '#include "vmlinux.h"\nint get(local_marker_t *m) { return m->only_here; }\n'
    src = tmp_path / "prog.bpf.c"
    src.write_text(text)
    result = compile_buffer(str(src), text, options=OPTS)
    assert result.findings == ()
    assert result.obj is not None
    # no vmlinux.h generated (a PCH of the local one may be cached beside)
    assert not any((fresh_cache / "kptr-lsp" / "vmlinux").rglob("*"))


def test_workspace_include_dir_vmlinux_h_is_found(tmp_path: Path, fresh_cache: Path) -> None:
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "vmlinux.h").write_text("typedef int ws_marker_t;\n")
    (tmp_path / "src").mkdir()
    src = tmp_path / "src" / "prog.bpf.c"
    text = '#include "vmlinux.h"\nws_marker_t v;\n'
    src.write_text(text)
    opts = CompileOptions(use_compile_commands=False, workspace_root=str(tmp_path))
    result = compile_buffer(str(src), text, options=opts)
    assert result.findings == ()
    assert not any((fresh_cache / "kptr-lsp" / "vmlinux").rglob("*"))


@needs_btf
def test_clean_programs_compile_against_the_generated_header(xdg_cache: Path) -> None:
    for src in sorted((PROGRAMS / "clean").glob("*.bpf.c")):
        result = compile_buffer(str(src), src.read_text(), options=OPTS)
        errors = [f.gcc_style() for f in result.findings if f.severity == 1]
        assert errors == [], src.name
        assert result.obj is not None, src.name


def test_unparsable_btf_leaves_no_cache_entry(tmp_path: Path, fresh_cache: Path) -> None:
    bogus = tmp_path / "not-btf"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ToolchainError):
        ensure_vmlinux_h(str(bogus))
    assert not any((fresh_cache / "kptr-lsp" / "vmlinux").rglob("*"))


def test_failed_write_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "vmlinux.h"
    with pytest.raises(TypeError):
        vmlinux.write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert list(target.parent.iterdir()) == []


def test_missing_kernel_btf_explains_the_kernel_config(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="CONFIG_DEBUG_INFO_BTF"):
        ensure_vmlinux_h(str(tmp_path / "nope"))
