"""vmlinux.h reached through the project's own headers, at any depth, `"…"` or `<…>`: the
project's own vmlinux.h first, a generated one only as the last fallback. Real clang, and the
real kernel verifier through `kptr-lsp check`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kptr_lsp.findings import Severity
from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.toolchain import CompileOptions, ToolchainError, compile_buffer, vmlinux
from kptr_lsp.toolchain.compile import CompileResult
from tests.expectations import read_expectations

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECTS = ROOT / "tests" / "programs" / "projects"
CHAIN = PROJECTS / "header_chain"
ANGLE = PROJECTS / "angle_include"
OWN = PROJECTS / "own_vmlinux"
KERNEL_BTF = Path(VMLINUX_BTF)
needs_btf = pytest.mark.skipif(not KERNEL_BTF.exists(), reason="no kernel BTF on this machine")


def compile_file(path: Path, root: Path = PROJECTS, **kw: object) -> CompileResult:
    opts = CompileOptions(use_compile_commands=False, workspace_root=str(root), **kw)  # type: ignore[arg-type]
    return compile_buffer(str(path), path.read_text(), options=opts)


def vmlinux_opened(result: CompileResult) -> list[tuple[int, str]]:
    return [(h.depth, h.path) for h in result.headers if h.path.endswith("/vmlinux.h")]


def errors(result: CompileResult) -> list[str]:
    return [f.gcc_style() for f in result.findings if f.severity is Severity.ERROR]


@needs_btf
@pytest.mark.parametrize(
    ("path", "depth"),
    [
        (CHAIN / "execsnoop.bpf.c", 3),  # prog -> maps.bpf.h -> common.h -> "vmlinux.h"
        (ANGLE / "connlat.bpf.c", 2),  # prog -> common.bpf.h -> <vmlinux.h>
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_header_included_vmlinux_h_falls_back_to_the_generated_one(
    path: Path, depth: int, xdg_cache: Path
) -> None:
    result = compile_file(path)
    assert errors(result) == []
    assert result.obj is not None
    generated = str(vmlinux.cache_root() / vmlinux.btf_digest(str(KERNEL_BTF)) / "vmlinux.h")
    assert vmlinux_opened(result) == [(depth, generated)]
    # last in the search: after every directory the project's flags could name
    flag = result.command.index(str(Path(generated).parent))
    assert result.command[flag - 1] == "-idirafter"
    assert not any(a in ("-I", "-iquote") for a in result.command[flag:])


def test_the_projects_own_vmlinux_h_next_to_its_header_is_not_shadowed(xdg_cache: Path) -> None:
    # The program needs a typedef only the project's trimmed vmlinux.h has; a generated one
    # is on the command line too (nothing in the search list found theirs), yet clang opens
    # theirs, from the directory of the header that includes it.
    result = compile_file(OWN / "execwatch.bpf.c")
    assert errors(result) == []
    assert result.obj is not None
    assert vmlinux_opened(result) == [(2, str(OWN / "include" / "vmlinux.h"))]
    assert any(str(vmlinux.cache_root()) in a for a in result.command)


def test_angle_include_finds_the_projects_vmlinux_h_in_the_workspace(
    tmp_path: Path, fresh_cache: Path
) -> None:
    # bcc libbpf-tools: <vmlinux.h> from a header, the project's own one per architecture.
    (tmp_path / "x86").mkdir()
    (tmp_path / "x86" / "vmlinux.h").write_text("typedef unsigned int __u32;\ntypedef int ws_t;\n")
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "core_fixes.bpf.h").write_text("#include <vmlinux.h>\n")
    prog = tmp_path / "tools" / "prog.bpf.c"
    prog.write_text('#include "core_fixes.bpf.h"\nws_t marker;\n')
    result = compile_file(prog, tmp_path)
    assert errors(result) == [] and result.obj is not None
    assert vmlinux_opened(result) == [(2, str(tmp_path / "x86" / "vmlinux.h"))]
    assert not any((fresh_cache / "kptr-lsp" / "vmlinux").rglob("*"))  # nothing generated


def test_without_kernel_btf_a_header_needing_vmlinux_h_says_why(
    tmp_path: Path, fresh_cache: Path
) -> None:
    (tmp_path / "common.h").write_text('#include "vmlinux.h"\n')
    prog = tmp_path / "prog.bpf.c"
    prog.write_text('#include "common.h"\nint x;\n')
    with pytest.raises(ToolchainError, match="CONFIG_DEBUG_INFO_BTF"):
        compile_file(prog, tmp_path, kernel_btf=str(tmp_path / "no-btf"))
    # a file that needs no vmlinux.h compiles all the same
    plain = tmp_path / "plain.bpf.c"
    plain.write_text("#include <linux/bpf.h>\nint y;\n")
    result = compile_file(plain, tmp_path, kernel_btf=str(tmp_path / "no-btf"))
    assert errors(result) == [] and result.obj is not None


def _check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", "--format", "json", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@needs_btf
def test_kptr_lsp_check_gives_the_annotated_verdicts(kernel: None) -> None:
    files = sorted([*CHAIN.glob("*.bpf.c"), *ANGLE.glob("*.bpf.c"), *OWN.glob("*.bpf.c")])
    proc = _check(*files)
    assert proc.returncode == 1, proc.stderr  # two of them are rejected
    report = {Path(e["file"]).name: e for e in json.loads(proc.stdout)}
    for path in files:
        entry = report[path.name]
        assert entry["verified"] is True, (path.name, entry)
        assert entry["programs"], path.name
        found = {(f["line"], f["severity"]) for f in entry["findings"]}
        wanted = {(e.line, "error") for e in read_expectations(path).expects}
        got_errors = {x for x in found if x[1] == "error"}
        assert got_errors == wanted, (path.name, entry["findings"])
        accepted = [p["accepted"] for p in entry["programs"]]
        assert all(accepted) is (not wanted), (path.name, accepted)
