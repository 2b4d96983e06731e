"""A sched_ext scheduler, judged by a kernel without sched_ext (the running one) and by Debian's
7.3, which has it: not verifiable here, verified there — where the 6.12 kfuncs it still calls
(scx_bpf_dispatch, scx_bpf_consume: renamed since) fail only the programs that call them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kptr_lsp.kernel.running import VMLINUX_BTF
from kptr_lsp.targets.kernels import label_of
from tests.expectations import read_expectations
from tests.targets.conftest import vms_of

SCX = Path(__file__).parent.parent / "programs" / "projects" / "scx_minimal" / "minimal.bpf.c"
RUNNING = label_of(os.uname().release)
KERNEL_BTF = Path(VMLINUX_BTF)
MISSING = "': not found in kernel or module BTFs"


def _line_of(needle: str) -> int:
    return next(i for i, t in enumerate(SCX.read_text().splitlines(), 1) if needle in t)


def test_scheduler_not_verifiable_here_and_verified_in_7_3(
    kernel: None, debian73_image: Path
) -> None:
    if b"\0sched_ext_ops\0" in KERNEL_BTF.read_bytes():
        pytest.skip("this kernel has sched_ext: nothing to tell apart")
    argv = [sys.executable, "-m", "kptr_lsp", "check", "--kernel", str(debian73_image)]
    with subprocess.Popen(
        [*argv, "--format", "json", str(SCX)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out, err = proc.communicate(timeout=600)
    assert vms_of(proc.pid) == [], "the command left its target VM running"
    assert proc.returncode == 1, err  # 7.3 rejects three programs
    (report,) = json.loads(out)
    kernels = {k["label"]: k for k in report["kernels"]}
    here, target = kernels.pop(RUNNING), next(iter(kernels.values()))
    assert set(here["programs"].values()) == {"not verifiable here"}
    assert target["programs"] == {
        "minimal_select_cpu": "rejected",
        "minimal_enqueue": "rejected",
        "minimal_dispatch": "rejected",
        "minimal_init": "accepted",  # verified: 7.3 has sched_ext_ops and scx_bpf_create_dsq
    }
    label = target["label"]
    errors = [
        (f["line"], f["message"].splitlines()[0], f["programs"])
        for f in report["findings"]
        if f["severity"] == "error"
    ]
    assert errors == [
        (
            _line_of("scx_bpf_dispatch(p, SCX_DSQ_LOCAL"),
            f"[{label}] extern (func ksym) 'scx_bpf_dispatch{MISSING}",
            ["minimal_select_cpu"],
        ),
        (
            _line_of("scx_bpf_dispatch(p, SHARED_DSQ"),
            f"[{label}] extern (func ksym) 'scx_bpf_dispatch{MISSING}",
            ["minimal_enqueue"],
        ),
        (
            _line_of("scx_bpf_consume(SHARED_DSQ)"),
            f"[{label}] extern (func ksym) 'scx_bpf_consume{MISSING}",
            ["minimal_dispatch"],
        ),
    ]
    (info,) = [f for f in report["findings"] if f["code"] == "kernel-lacks"]
    assert info["severity"] == "information"
    assert info["line"] == read_expectations(SCX).expects[0].line
    assert info["message"].startswith(f"[{RUNNING}] struct_ops init_kern: struct sched_ext_ops")
    assert f"Not reported by {label}." in info["message"]
