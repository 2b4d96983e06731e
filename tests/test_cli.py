"""`kptr-lsp check` as a developer or CI runs it: real clang, real kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.expectations import read_expectations

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("kptr-lsp ")
    # The libbpf that loads programs: the current one `make setup` fetched.
    assert "libbpf 1.4" in proc.stdout and "bookworm-backports" in proc.stdout, proc.stdout


def test_check_prints_the_rejection_gcc_style_and_fails(kernel: None) -> None:
    rejected = EXAMPLES / "rejected.bpf.c"
    line = next(e.line for e in read_expectations(rejected).expects if e.severity == 1)
    proc = run("check", "examples/clean.bpf.c", "examples/rejected.bpf.c")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"examples/rejected.bpf.c:{line}:" in proc.stdout
    assert "error: Unreleased reference" in proc.stdout
    # The catalogue's explanation follows the kernel's words, indented.
    assert "\n    Fix: Release it on the leaking path" in proc.stdout
    # The clean file gets its verdict line and nothing with a line number.
    assert "examples/clean.bpf.c:" not in proc.stdout.replace("examples/clean.bpf.c: ", "")


def test_check_clean_file_succeeds(kernel: None) -> None:
    proc = run("check", "examples/clean.bpf.c")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error:" not in proc.stdout
    assert "accepted" in proc.stdout


def test_check_json_names_programs_and_verdicts(kernel: None) -> None:
    proc = run("check", "--format", "json", "examples/rejected.bpf.c")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    (entry,) = report
    assert entry["verified"] is True
    assert [p["accepted"] for p in entry["programs"]] == [False]
    errors = [f for f in entry["findings"] if f["severity"] == "error"]
    assert errors and errors[0]["source"] == "verifier"
    assert errors[0]["related"], "the leak's exit should be related information"
    # The leak is in the explanation catalogue: why and how to fix, in plain words.
    assert errors[0]["explanation_id"] == "reference-leak"
    assert "Fix: Release it on the leaking path" in errors[0]["explanation"]
    # …naming this program's acquire and its matching release, not a list of possibilities.
    assert "by bpf_kptr_xchg()" in errors[0]["explanation"]
    assert "The matching release is bpf_task_release()" in errors[0]["explanation"]


def test_check_missing_file_is_an_error_not_a_crash() -> None:
    proc = run("check", "no/such/file.bpf.c")
    assert proc.returncode == 2  # a usage error, not a rejected program
    assert "cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_without_clang_says_what_to_install(tmp_path: Path) -> None:
    proc = run("check", "--clang", str(tmp_path / "no-clang"), "examples/clean.bpf.c")
    assert proc.returncode == 2  # an environment error, not a rejected program
    assert "apt-get install" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_check_rodata_sets_a_const_volatile_global_before_load(kernel: None) -> None:
    # rodata_index.bpf.c indexes a 4-entry array with `slot`: the kernel accepts the source's
    # default (0) and rejects 7, as userspace setting skel->rodata->slot = 7 would see.
    src = str(ROOT / "tests" / "programs" / "projects" / "rodata_index.bpf.c")
    assert run("check", src).returncode == 0
    proc = run("check", "--rodata", "slot=7", src)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error:" in proc.stdout
    bad = run("check", "--rodata", "slot=seven", src)
    assert bad.returncode == 2 and "is not an integer" in bad.stderr
