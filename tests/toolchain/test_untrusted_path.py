"""A repository's own `clang`/`bpftool` is never run, even when PATH has a relative entry.

Editors start the server in the workspace; a PATH entry like `.` or `bin` then points into the
repository being opened. The fake tools here write a marker when run (their version probe is
enough to run them) and claim to be clang 99, which discovery would otherwise prefer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = """#!/bin/sh
echo ran >> "{marker}"
echo "clang version 99.0.0"
echo "Target: x86_64-pc-linux-gnu"
exit 0
"""


def _hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "cloned"
    (repo / "bin").mkdir(parents=True)
    marker = tmp_path / "ran.txt"
    for where in (repo, repo / "bin"):
        for name in ("clang", "clang-99", "bpftool"):
            tool = where / name
            tool.write_text(FAKE.format(marker=marker))
            tool.chmod(0o755)
    (repo / "prog.bpf.c").write_text((ROOT / "examples" / "clean.bpf.c").read_text())
    return repo, marker


def _check(repo: Path, path_prefix: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=path_prefix + os.pathsep + os.environ["PATH"])
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", "--no-verify", "prog.bpf.c"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_relative_path_entries_never_run_the_repositorys_tools(tmp_path: Path) -> None:
    repo, marker = _hostile_repo(tmp_path)
    proc = _check(repo, os.pathsep.join([".", "bin", ""]))
    assert not marker.exists(), "a tool from the opened repository was run"
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_control_the_fake_clang_is_run_from_an_absolute_path_entry(tmp_path: Path) -> None:
    # The same tools on an absolute PATH entry (the user's own choice) are probed: the test
    # above would see the marker if discovery still searched relative entries.
    repo, marker = _hostile_repo(tmp_path)
    _check(repo, str(repo / "bin"))
    assert marker.exists()
