"""An untrusted workspace: a cloned repository's compile_commands.json asks clang to load its
plugin, run its assembler, read its config and write files. Opening the file must do none of
it — the flags are dropped and named in one Information — and the findings stay those of the
program itself (the verifier's Error on its line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kptr_lsp.toolchain.compdb import FLAGS_DROPPED, split_flags
from tests.expectations import read_expectations

ROOT = Path(__file__).resolve().parents[2]
REJECTED = ROOT / "examples" / "rejected.bpf.c"

# What a hostile repository would ship: a shared object whose constructor runs on dlopen().
EVIL_C = r"""
#include <stdio.h>
__attribute__((constructor)) static void pwn(void) {
    FILE *f = fopen(MARKER, "a");
    if (f) { fputs(WHO "\n", f); fclose(f); }
}
"""


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_hostile(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """(project, marker, the entry's arguments): the marker is what the plugin would write.
    The project holds examples/rejected.bpf.c and a compile_commands.json for it."""
    project = tmp_path / "repo"
    (project / "tools").mkdir(parents=True)
    (project / "build").mkdir()
    marker = tmp_path / "pwned"
    evil = project / "tools" / "evil.c"
    evil.write_text(EVIL_C)
    so = project / "tools" / "evil.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", f'-DMARKER="{marker}"', '-DWHO="plugin"', "-o", so, evil],
        check=True,
    )
    fake_as = project / "tools" / "as"  # run by clang -fno-integrated-as -B tools/
    fake_as.write_text(f"#!/bin/sh\necho as >> {marker}\nexit 1\n")
    fake_as.chmod(0o755)
    (project / "tools" / "clang.cfg").write_text(f"-Xclang -load -Xclang {so}\n")
    (project / "tools" / "flags.rsp").write_text(f"-fplugin={so}\n")
    src = project / REJECTED.name
    src.write_text(REJECTED.read_text())
    args = [
        "clang", "-target", "bpf", "-O2", "-g", "-Wall", "-DHOSTILE=1",
        f"-fplugin={so}", f"-fpass-plugin={so}", "-Xclang", "-load", "-Xclang", str(so),
        "-fno-integrated-as", "-B", str(project / "tools"), f"--config={project}/tools/clang.cfg",
        f"@{project}/tools/flags.rsp", "-save-temps=obj", f"-fprofile-generate={tmp_path}/prof",
        "-MD", "-MF", str(tmp_path / "dep.d"), "-c", f"../{src.name}", "-o", str(tmp_path / "x.o"),
    ]  # fmt: skip
    entry = {"directory": str(project / "build"), "file": f"../{src.name}", "arguments": args}
    (project / "compile_commands.json").write_text(json.dumps([entry]))
    return project, marker, args


@pytest.fixture
def hostile(tmp_path: Path, clang: str) -> tuple[Path, Path, list[str]]:
    return make_hostile(tmp_path)


def test_the_hostile_flags_do_run_code_when_given_to_clang(
    hostile: tuple[Path, Path, list[str]], clang: str
) -> None:
    """The fixture is really hostile: clang itself loads the plugin (so the test can fail)."""
    _, marker, args = hostile
    plugin = next(a for a in args if a.startswith("-fplugin="))
    subprocess.run(
        [clang, "-target", "bpf", plugin, "-c", "-x", "c", os.devnull, "-o", os.devnull],
        check=False,
        capture_output=True,
    )
    assert marker.read_text() == "plugin\n"


def test_opening_a_hostile_workspace_runs_nothing_and_says_what_was_dropped(
    hostile: tuple[Path, Path, list[str]], kernel: None
) -> None:
    project, marker, _ = hostile
    before = _tree(project.parent)
    proc = subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", "--format", "json", REJECTED.name],
        cwd=project,  # the workspace root, as an editor would open it
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert not marker.exists(), marker.read_text()
    assert _tree(project.parent) == before  # no .i/.s/.bc, no dep file, no object, no profile
    (entry,) = json.loads(proc.stdout)
    findings = entry["findings"]
    dropped = [f for f in findings if f["code"] == FLAGS_DROPPED]
    assert len(dropped) == 1, findings
    info = dropped[0]
    assert info["severity"] == "information" and info["line"] == 1
    for word in (
        "-fplugin=",
        "-fpass-plugin=",
        "-Xclang -load",
        "-B ",
        "--config=",
        "@",
        "-save-temps",
    ):
        assert word in info["message"], (word, info["message"])
    assert str(project / "compile_commands.json") in info["message"]
    # Otherwise the findings are the program's own: the leak on its EXPECT line.
    line = next(e.line for e in read_expectations(REJECTED).expects if e.severity == 1)
    errors = [f for f in findings if f["severity"] == "error"]
    assert [(e["line"], e["explanation_id"]) for e in errors] == [(line, "reference-leak")]
    assert proc.returncode == 1, proc.stderr


def test_allowed_flags_are_kept_and_nothing_else() -> None:
    args = [
        "clang", "-target", "bpf", "-O2", "-g", "-gdwarf-5", "-mcpu=v3", "-std=gnu11",
        "-Wall", "-Wno-unused-function", "-Werror=implicit", "-DX=1", "-UY",
        "-fno-stack-protector", "-fno-builtin-memcpy", "-ffreestanding", "-fmacro-prefix-map=/a=b",
        "-mllvm", "-info-output-file=/tmp/x", "-fmodules", "-gsplit-dwarf", "-Wa,-o,/tmp/y",
        "-Wp,-DFOO", "-ccc-install-dir", "/evil", "-fprofile-instr-generate=/tmp/p",
        "-o", "x.o", "-MMD", "-MF", "x.d", "-c", "x.c",
    ]  # fmt: skip
    kept, dropped = split_flags(args, "/src")
    assert kept == (
        "-target", "bpf", "-O2", "-g", "-gdwarf-5", "-mcpu=v3", "-std=gnu11", "-Wall",
        "-Wno-unused-function", "-Werror=implicit", "-DX=1", "-UY", "-fno-stack-protector",
        "-fno-builtin-memcpy", "-ffreestanding", "-fmacro-prefix-map=/a=b",
    )  # fmt: skip
    assert dropped == (
        "-mllvm -info-output-file=/tmp/x", "-fmodules", "-gsplit-dwarf", "-Wa,-o,/tmp/y",
        "-Wp,-DFOO", "-ccc-install-dir /evil", "-fprofile-instr-generate=/tmp/p",
    )  # fmt: skip
