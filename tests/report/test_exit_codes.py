"""`kptr-lsp check`'s exit status, as a CI job sees it (README "Command line")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kptr_lsp import cli, report

ROOT = Path(__file__).resolve().parents[2]


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_clean_is_0_and_rejected_is_1(kernel: None) -> None:
    assert check("examples/clean.bpf.c").returncode == 0
    assert check("examples/clean.bpf.c", "examples/rejected.bpf.c").returncode == 1


def test_a_clang_error_is_1(tmp_path: Path) -> None:
    src = tmp_path / "broken.bpf.c"
    src.write_text('#include <bpf/bpf_helpers.h>\nSEC("xdp") int f(void *ctx) { return x; }\n')
    proc = check("--no-verify", str(src))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error:" in proc.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--format", "xml", "examples/clean.bpf.c"], "invalid choice: 'xml'"),
        (["no/such/file.bpf.c"], "no/such/file.bpf.c"),
        (["--clang", "/nonexistent/clang", "examples/clean.bpf.c"], "clang not found"),
        (["--kernel-btf", "/nonexistent/vmlinux", "examples/clean.bpf.c"], "/nonexistent/vmlinux"),
    ],
)
def test_usage_and_environment_errors_are_2(args: list[str], said: str) -> None:
    proc = check(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert said in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_crash_is_3_not_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug inside kptr-lsp (here: the output format failing) must not read as a rejection."""

    def broken(fmt: str, *_: object) -> report.Writer:
        raise RuntimeError(f"format {fmt} is broken")

    monkeypatch.setattr(report, "writer", broken)
    monkeypatch.chdir(ROOT)
    status = cli.main(["check", "--no-verify", "examples/clean.bpf.c"])
    assert status == report.Exit.CRASH == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "format text is broken" in err and "internal error" in err
