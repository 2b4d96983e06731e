"""The same object judged by the running kernel (6.18) and by Debian's 6.1 in its VM: both
verdicts, on the same C lines, each naming its kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.lenses import program_lenses
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import GuestKernel, Settings
from kptr_lsp.targets.kernels import ReadyKernel, label_of
from tests.targets.conftest import PACKAGE, vms_of

PROGRAMS = Path(__file__).parent.parent / "programs"
# __kptr + bpf_kptr_xchg of a task reference from bpf_task_acquire (a 6.2 kfunc).
KPTR_XCHG = PROGRAMS / "clean" / "kptr_ok.bpf.c"
# What 6.1 says: it lacks both 6.2 kfuncs; each call fails only the program that makes it
# (stash_child acquires and releases, drop_child releases).
ACQUIRE = "extern (func ksym) 'bpf_task_acquire': not found in kernel or module BTFs"
RELEASE = "extern (func ksym) 'bpf_task_release': not found in kernel or module BTFs"
# __kptr_untrusted: a tag 6.1 does not know, so the loaded pointer is a plain scalar there.
UNTRUSTED = PROGRAMS / "rejected" / "kptr_untrusted_deref_no_null.bpf.c"
RUNNING = label_of(os.uname().release)


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


def _lines_of(path: Path, needle: str) -> list[int]:
    return [i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t]


def _missing_kfunc_errors() -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, libbpf's words, the one program named) of each call 6.1 cannot resolve."""
    first_release, second_release = _lines_of(KPTR_XCHG, "bpf_task_release(old)")
    return [
        (_line_of(KPTR_XCHG, "bpf_task_acquire(task)"), ACQUIRE, ("stash_child",)),
        (first_release, RELEASE, ("stash_child",)),
        (second_release, RELEASE, ("drop_child",)),
    ]


def _analyse(path: Path, kernel: GuestKernel | None) -> Analysis:
    settings = Settings(kernels=(kernel,) if kernel else ())
    return analyse(str(path), path.read_text(), settings)


def test_kptr_xchg_program_accepted_here_rejected_by_6_1(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    target = debian61_ready.label
    analysis = _analyse(KPTR_XCHG, debian61)
    running, debian = analysis.kernels
    assert (running.label, running.running) == (RUNNING, True)
    assert all(p.accepted for p in running.programs)
    assert debian.label == target and debian.release.startswith("6.1.")
    assert [p.accepted for p in debian.programs] == [False, False]

    errors = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert [(f.line, f.message.splitlines()[0], f.programs) for f in errors] == [
        (line, f"[{target}] {text}", programs) for line, text, programs in _missing_kfunc_errors()
    ]
    assert all(f"Not reported by {RUNNING}." in f.message for f in errors)

    titles = [lens.title for lens in program_lenses(analysis)]
    assert len(titles) == 2
    assert all(t.startswith("✓ ") and t.endswith(f" · {target} ✗ rejected") for t in titles)


def test_one_line_two_verdicts_each_naming_its_kernel(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    target = debian61_ready.label
    analysis = _analyse(UNTRUSTED, debian61)
    line = _line_of(UNTRUSTED, "pid = prev->pid;")
    on_line = {f.message.splitlines()[0] for f in analysis.findings if f.line == line}
    assert on_line == {
        f"[{RUNNING}] R1 invalid mem access 'untrusted_ptr_or_null_'",
        f"[{target}] R1 invalid mem access 'scalar'",
    }
    # 6.1's type-tag rules say why: it does not know the tag.
    field = _line_of(UNTRUSTED, "__kptr_untrusted *last_task")
    (warning,) = [f for f in analysis.findings if f.code == "kptr-unknown-tag"]
    assert warning.line == field and warning.message.startswith(f"[{target}] ")
    assert "Linux 6.1" in warning.message


def test_without_targets_nothing_changes(kernel: None) -> None:
    analysis = _analyse(UNTRUSTED, None)
    assert analysis.kernels == ()
    (error,) = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert error.message.startswith("R1 invalid mem access 'untrusted_ptr_or_null_'")


def test_check_command_shows_both_verdicts(
    kernel: None, debian61: GuestKernel, debian61_ready: ReadyKernel
) -> None:
    target = debian61_ready.label
    argv = [sys.executable, "-m", "kptr_lsp", "check", "--kernel", PACKAGE, "--format", "json"]
    returncode, out, err = _check([*argv, str(KPTR_XCHG)])
    assert returncode == 1, err
    (report,) = json.loads(out)
    verdicts = {k["label"]: k["programs"] for k in report["kernels"]}
    both = {"stash_child": "accepted", "drop_child": "accepted"}
    assert verdicts == {RUNNING: both, target: dict.fromkeys(both, "rejected")}
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["line"], f["programs"]) for f in errors] == [
        (line, list(programs)) for line, _, programs in _missing_kfunc_errors()
    ]
    assert all(f["message"].startswith(f"[{target}] ") for f in errors)

    _, text, _ = _check([*argv[:-2], str(KPTR_XCHG)])
    assert f"[{RUNNING}] stash_child accepted, drop_child accepted" in text
    assert f"[{target}] stash_child rejected, drop_child rejected" in text


def _check(argv: list[str]) -> tuple[int, str, str]:
    """Run `kptr-lsp check`; it must power its VMs off when it finishes."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        out, err = proc.communicate(timeout=300)
    assert vms_of(proc.pid) == [], "the command left its target VM running"
    return proc.returncode, out, err


def test_a_missing_image_is_an_information_and_the_running_verdict_stays(kernel: None) -> None:
    analysis = _analyse(UNTRUSTED, GuestKernel(image="/nonexistent/bzImage"))
    (note,) = [f for f in analysis.findings if f.code == "target-kernel"]
    assert note.severity is Severity.INFORMATION
    assert note.message == (
        "Not verified on target kernel /nonexistent/bzImage: "
        "kernel image /nonexistent/bzImage does not exist"
    )
    (error,) = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert error.message.startswith(f"[{RUNNING}] R1 invalid mem access 'untrusted_ptr_or_null_'")
    assert "Not reported by" not in error.message  # that kernel was never asked
