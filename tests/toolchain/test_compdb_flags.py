"""compile_commands.json: the project's flags apply to the buffer, build-only flags do not."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kptr_lsp.findings import Severity
from kptr_lsp.toolchain import CompileOptions, compile_buffer
from kptr_lsp.toolchain.compdb import flags_for, split_flags

PROG = """\
#include <project_config.h>
#if !defined(FOO) || FOO != 42
#error FOO is not configured
#endif
int value = FOO + CONFIG_WIDTH;
"""


def make_project(root: Path, command: str | None = None) -> Path:
    (root / "include").mkdir(parents=True)
    (root / "include" / "project_config.h").write_text("#define CONFIG_WIDTH 8\n")
    (root / "src").mkdir()
    src = root / "src" / "prog.bpf.c"
    src.write_text(PROG)
    (root / "build").mkdir()
    entry = {
        "directory": str(root / "build"),
        "file": "../src/prog.bpf.c",
        "command": command
        or "clang -target bpf -DFOO=42 -I../include -MD -MF prog.d -c ../src/prog.bpf.c -o prog.o",
    }
    (root / "build" / "compile_commands.json").write_text(json.dumps([entry]))
    return src


def test_project_defines_and_includes_take_effect(tmp_path: Path) -> None:
    src = make_project(tmp_path)
    opts = CompileOptions(workspace_root=str(tmp_path))
    result = compile_buffer(str(src), PROG, options=opts)
    assert result.findings == ()
    assert result.obj is not None
    assert sorted(os.listdir(tmp_path / "build")) == ["compile_commands.json"]  # no prog.d, prog.o


def test_without_compile_commands_the_define_is_missing(tmp_path: Path) -> None:
    src = make_project(tmp_path)
    opts = CompileOptions(workspace_root=str(tmp_path), use_compile_commands=False)
    result = compile_buffer(str(src), PROG, options=opts)
    errors = [f for f in result.findings if f.severity == Severity.ERROR]
    assert errors and errors[0].line == 1  # project_config.h not found without -I../include


def test_build_only_flags_are_dropped_and_dirs_made_absolute(tmp_path: Path) -> None:
    args = [
        "clang", "-target", "bpf", "-O2", "-g", "-mcpu=v3", "-DFOO=42", "-D", "BAR",
        "-Iinc", "-isystem", "sys", "-include", "pre.h", "-std=gnu11", "-Wall",
        "-MD", "-MF", "x.d", "-Wp,-MD,x.d", "-fcolor-diagnostics", "-c", "prog.bpf.c",
        "-o", "prog.o",
    ]  # fmt: skip
    d = str(tmp_path)
    assert split_flags(args, d)[0] == (
        "-target", "bpf", "-O2", "-g", "-mcpu=v3", "-DFOO=42", "-D", "BAR",
        "-I", f"{d}/inc", "-isystem", f"{d}/sys", "-include", f"{d}/pre.h", "-std=gnu11",
        "-Wall",
    )  # fmt: skip


def test_project_optimisation_level_replaces_ours(tmp_path: Path) -> None:
    src = make_project(tmp_path, "clang -target bpf -O1 -DFOO=42 -I../include -c ../src/prog.bpf.c")
    result = compile_buffer(str(src), PROG, options=CompileOptions(workspace_root=str(tmp_path)))
    assert result.obj is not None
    assert "-O1" in result.command and "-O2" not in result.command


def test_database_above_the_workspace_root_is_ignored(tmp_path: Path) -> None:
    src = make_project(tmp_path)
    inner_root = tmp_path / "src"
    assert flags_for(str(src), str(inner_root)) is None
    assert flags_for(str(src), str(tmp_path)) is not None


def test_other_files_entries_do_not_apply(tmp_path: Path) -> None:
    src = make_project(tmp_path)
    other = tmp_path / "src" / "other.bpf.c"
    other.write_text(PROG)
    assert flags_for(str(src), str(tmp_path)) is not None
    assert flags_for(str(other), str(tmp_path)) is None
