"""`kptr-lsp check --stats / --compare / --max-growth` as a CI job runs it: real clang, the
real verifier, a program edited to unroll its loop."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COST = ROOT / "tests/programs/cost"
TOO_COMPLEX = ROOT / "tests/programs/catalogue/too_many_branches.bpf.c"
BPF_LOOP = "\tbpf_loop(MAX_SLOTS, add_slot, &c, 0);\n"
UNROLLED = "#pragma unroll\n\tfor (__u64 i = 0; i < MAX_SLOTS; i++)\n\t\tadd_slot(i, &c);\n"


def check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kptr_lsp", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(COST / "sum_bpf_loop.bpf.c", tmp_path / "sum.bpf.c")
    return tmp_path


def test_compare_reports_the_growth_of_an_unrolled_loop(project: Path, kernel: None) -> None:
    run = check(project, "--stats", "--format", "json", "sum.bpf.c")
    assert run.returncode == 0, run.stderr
    (project / "old.json").write_text(run.stdout)
    [old] = json.loads(run.stdout)["programs"]
    assert old["program"] == "sum_slots" and old["verdict"] == "accepted"
    assert old["verification_time_us"] is not None and old["stack_depth"]
    assert 0 < old["insns"] < 200  # bpf_loop: the callback is verified once
    assert old["jited_bytes"] > 0  # the kernel's own size of its machine code

    source = (project / "sum.bpf.c").read_text()
    assert BPF_LOOP in source
    (project / "sum.bpf.c").write_text(source.replace(BPF_LOOP, UNROLLED))

    # Over budget: the CI job fails and says which program grew by how much.
    run = check(project, "--compare", "old.json", "--max-growth", "50", "sum.bpf.c")
    assert run.returncode == 1, run.stderr
    assert "sum.bpf.c: sum_slots grew by" in run.stderr
    header, _, row = run.stdout.splitlines()
    assert header.split()[:4] == ["file", "program", "verdict", "insns"]
    cells = row.split()
    new_insns, diff = int(cells[4]), int(cells[5])
    assert cells[:3] == ["sum.bpf.c", "sum_slots", "accepted"]
    assert int(cells[3]) == old["insns"] and new_insns > 4 * old["insns"]
    assert diff == new_insns - old["insns"]

    # The same comparison as CSV, and within a generous budget: exit 0.
    run = check(project, "--compare", "old.json", "--format", "csv", "--max-growth", "10000", ".")
    assert run.returncode == 0, run.stderr
    [entry] = list(csv.DictReader(io.StringIO(run.stdout)))
    assert int(entry["insns_old"]) == old["insns"] and int(entry["insns_new"]) == new_insns
    assert float(entry["insns_diff_pct"]) == pytest.approx(100 * diff / old["insns"], abs=0.1)


def test_stats_of_a_rejected_program_as_csv(tmp_path: Path, kernel: None) -> None:
    shutil.copy(TOO_COMPLEX, tmp_path / "complex.bpf.c")
    run = check(tmp_path, "--stats", "--format", "csv", "complex.bpf.c")
    assert run.returncode == 1  # rejected, as without --stats
    [entry] = list(csv.DictReader(io.StringIO(run.stdout)))
    assert entry["program"] == "too_complex" and entry["verdict"] == "rejected"
    assert int(entry["insns"]) > 8193  # the verifier's own count, from its log
    assert int(entry["peak_states"]) > 0 and entry["verification_time_us"]
    assert entry["jited_bytes"] == ""  # never loaded: nothing was JIT-compiled


def test_bad_baseline_and_options_are_usage_errors(project: Path) -> None:
    (project / "old.json").write_text('{"programs": []}')
    run = check(project, "--compare", "old.json", "--no-verify", "sum.bpf.c")
    assert run.returncode == 2
    assert "is not the output of `kptr-lsp check --stats --format json`" in run.stderr
    run = check(project, "--max-growth", "5", "--no-verify", "sum.bpf.c")
    assert run.returncode == 2 and "--max-growth needs --compare" in run.stderr
    run = check(project, "--format", "csv", "--no-verify", "sum.bpf.c")
    assert run.returncode == 2 and "--format csv goes with --stats" in run.stderr
