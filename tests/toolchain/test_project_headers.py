"""Real projects' header layouts: vendored libbpf before the system's, the project's own
(per-architecture) vmlinux.h before a generated one, compile_commands.json over both, and the
headers clang really opened reported on the compile result."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kptr_lsp.findings import Severity
from kptr_lsp.toolchain import CompileOptions, compile_buffer, debian
from kptr_lsp.toolchain.compile import CompileResult
from tests.project_layouts import (
    UPROBE_PROGRAM,
    installed_headers,
    libbpf_source_tree,
    per_arch_vmlinux,
)


def compile_in(ws: Path, rel: str, text: str, *, compdb: bool = False) -> CompileResult:
    path = ws / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    opts = CompileOptions(workspace_root=str(ws), use_compile_commands=compdb)
    return compile_buffer(str(path), text, options=opts)


def direct(result: CompileResult, name: str) -> str:
    hits = [h.path for h in result.headers if h.depth == 1 and h.path.endswith(name)]
    assert hits, f"{name} not among {result.headers}"
    return hits[0]


@pytest.fixture
def ws(tmp_path: Path, vmlinux_dir: Path, xdg_cache: Path) -> Path:
    """A workspace with its own vmlinux.h at the top (so nothing is generated)."""
    shutil.copy(vmlinux_dir / "vmlinux.h", tmp_path / "vmlinux.h")
    return tmp_path


@pytest.fixture
def current() -> debian.LibbpfTree:
    """The current libbpf `make setup` fetched (toolchain/debian.py)."""
    tree = debian.libbpf_tree()
    if tree is None:
        pytest.fail("the current libbpf is not in the cache: run `make setup`")
    return tree


def test_without_vendored_headers_the_current_libbpf_compiles_them(
    ws: Path, current: debian.LibbpfTree
) -> None:
    result = compile_in(ws, "src/uprobe.bpf.c", UPROBE_PROGRAM)
    assert result.obj is not None, [f.message for f in result.findings]
    assert result.vendored_libbpf is None
    assert direct(result, "bpf/bpf_helpers.h") == str(current.include / "bpf" / "bpf_helpers.h")


def test_system_headers_lack_the_newer_macro(
    ws: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No current libbpf anywhere (a fresh HOME and cache): the system's 1.1 headers are used.
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    result = compile_in(ws, "src/uprobe.bpf.c", UPROBE_PROGRAM)
    assert result.obj is None
    assert any(f.severity is Severity.ERROR for f in result.findings)
    assert result.vendored_libbpf is None
    assert direct(result, "bpf/bpf_helpers.h") == "/usr/include/bpf/bpf_helpers.h"


def test_libbpf_source_tree_is_preferred(ws: Path) -> None:
    src = libbpf_source_tree(ws)
    result = compile_in(ws, "examples/c/uprobe.bpf.c", UPROBE_PROGRAM)
    assert result.obj is not None, [f.message for f in result.findings]
    assert result.vendored_libbpf is not None
    assert str(src) in result.vendored_libbpf.origin
    assert direct(result, "bpf_tracing.h") == str(src / "bpf_tracing.h")
    assert direct(result, "vmlinux.h") == str(ws / "vmlinux.h")


def test_installed_output_headers_win_over_the_source_tree(ws: Path) -> None:
    libbpf_source_tree(ws)
    out = installed_headers(ws / "libbpf-tools")
    result = compile_in(ws, "libbpf-tools/uprobe.bpf.c", UPROBE_PROGRAM)
    assert result.obj is not None, [f.message for f in result.findings]
    assert direct(result, "bpf/bpf_tracing.h") == str(out / "bpf_tracing.h")


def test_vendored_headers_outside_the_files_parents_are_not_used(
    ws: Path, current: debian.LibbpfTree
) -> None:
    libbpf_source_tree(ws / "other-project")
    result = compile_in(ws, "src/uprobe.bpf.c", UPROBE_PROGRAM)
    assert result.vendored_libbpf is None
    assert direct(result, "bpf/bpf_tracing.h") == str(current.include / "bpf" / "bpf_tracing.h")


def test_compile_commands_entry_decides_instead(ws: Path, current: debian.LibbpfTree) -> None:
    libbpf_source_tree(ws)
    path = ws / "src" / "uprobe.bpf.c"
    entry = {"directory": str(ws), "file": str(path), "arguments": ["clang", "-c", str(path)]}
    (ws / "compile_commands.json").write_text(json.dumps([entry]))
    result = compile_in(ws, "src/uprobe.bpf.c", UPROBE_PROGRAM, compdb=True)
    assert result.vendored_libbpf is None
    # The entry names no libbpf: the current one stands in for the system's, not the tree's.
    assert direct(result, "bpf/bpf_helpers.h") == str(current.include / "bpf" / "bpf_helpers.h")


NEEDS_PROJECT_VMLINUX = """\
#include "vmlinux.h"
#ifndef PROJECT_VMLINUX_H
#error "the project's own vmlinux.h was not used"
#endif
#include <bpf/bpf_helpers.h>

SEC("tp_btf/sched_switch")
int on_switch(void *ctx)
{
\treturn 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize(
    "layout",
    ["x86", "x86_64", "vmlinux.h/include/x86"],
    ids=["bcc-libbpf-tools", "uname-arch", "libbpf-bootstrap-submodule"],
)
def test_per_architecture_vmlinux_is_found(
    tmp_path: Path, vmlinux_dir: Path, xdg_cache: Path, layout: str
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the layouts name x86")
    header = per_arch_vmlinux(tmp_path, vmlinux_dir, layout)
    result = compile_in(tmp_path, "tools/switch.bpf.c", NEEDS_PROJECT_VMLINUX)
    assert result.obj is not None, [f.message for f in result.findings]
    assert direct(result, "vmlinux.h") == str(header)
