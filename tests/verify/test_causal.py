"""The causal path kptr-lsp derives from the running kernel's classic log (verify/causal.py):
real programs written the way projects write them (tests/programs/projects/causal), compiled
with clang and loaded into this kernel's verifier, whose rejection names one line while the fix
belongs on another. Each test checks the path the user sees (related locations, in order) and
the `fix here` point the quick fixes act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kptr_lsp.findings import Finding, FixKind, Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.report.json_ import finding_json
from kptr_lsp.report.text import _head
from kptr_lsp.settings import Settings
from kptr_lsp.verify.causal import derive
from kptr_lsp.verify.log import parse_log
from tests.expectations import read_expectations

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
CAUSAL = PROGRAMS / "projects" / "causal"
LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "7.3"
CATEGORIES = {
    "Register Type Safety",
    "Memory Safety",
    "Resource Lifetime Safety",
    "Call Type Safety",
    "Execution Context Safety",
}


def _line(path: Path, marker: str) -> int:
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if marker in t)


def _error(path: Path) -> Finding:
    analysis = analyse(str(path), path.read_text(), Settings())
    (error,) = [f for f in analysis.findings if f.severity is Severity.ERROR]
    assert error.line == read_expectations(path).expects[0].line
    return error


def _fix(error: Finding) -> tuple[FixKind, int]:
    (point,) = error.fix_points
    assert point.related() in error.related  # shown as `fix here: …` on its line
    assert point.related().message.startswith("fix here: ")
    return point.kind, point.location.line


def _path(error: Finding) -> list[tuple[int, str]]:
    return [(e.location.line, e.label) for e in error.causal_path]


def test_a_bounds_check_that_covers_too_little_is_where_the_fix_goes(kernel: None) -> None:
    path = CAUSAL / "short_bounds_check.bpf.c"
    error = _error(path)
    check = _line(path, "RELATED: check")
    assert error.message.startswith("invalid access to packet, off=23 size=1")
    assert "\nMemory Safety: Access outside bounds\n" in error.message
    assert error.explained_by == "kptr-lsp" and error.category in CATEGORIES
    assert _fix(error) == (FixKind.BOUNDS_CHECK_TOO_SHORT, check)
    (point,) = error.fix_points
    # 14 bytes proved (the Ethernet header), the IP protocol byte is at offset 23.
    assert (point.proven, point.needed) == (14, 24)
    (branch,) = [e for e in error.causal_path if e.location.line == check]
    assert branch.label == "branch" and "proves 14 byte(s)" in branch.text
    # The pointer's lineage: loaded from the context, copied, moved past the header.
    assert _path(error)[0] == (_line(path, "void *data = "), "update")


def test_a_length_never_clamped_points_where_it_is_computed(kernel: None) -> None:
    path = CAUSAL / "unclamped_length.bpf.c"
    error = _error(path)
    computed = _line(path, "RELATED: computed")
    assert error.category == "Memory Safety"
    assert _fix(error) == (FixKind.CLAMP_MISSING, computed)
    (point,) = error.fix_points
    assert point.register == "R2" and point.bound is None  # unbounded: no comparison at all
    assert [line for line, _ in _path(error)] == [computed, error.line]


def test_a_null_check_of_the_other_lookup_is_where_the_fix_goes(kernel: None) -> None:
    path = CAUSAL / "null_check_other_copy.bpf.c"
    error = _error(path)
    check = _line(path, "RELATED: wrong copy")
    lookup = _line(path, "f = bpf_map_lookup_elem")
    assert error.message.split("\n")[1] == "Register Type Safety: Invalid dereference"
    assert _fix(error) == (FixKind.NULL_CHECK_WRONG_COPY, check)
    (point,) = error.fix_points
    assert point.origin is not None and point.origin.line == lookup
    assert "per_host" in point.text and f"line {error.line}" in point.text
    (branch,) = [e for e in error.causal_path if e.label == "branch"]
    assert branch.location.line == check and "another value" in branch.text
    assert _path(error)[0] == (lookup, "update")


def test_a_leak_on_one_branch_points_at_that_branch_and_the_matching_release(
    kernel: None,
) -> None:
    path = CAUSAL / "release_one_branch.bpf.c"
    error = _error(path)
    leaking = _line(path, "RELATED: leaking branch")
    assert error.category == "Resource Lifetime Safety"
    assert _fix(error) == (FixKind.RELEASE_MISSING, leaking)
    (point,) = error.fix_points
    assert point.release == "bpf_task_release"
    assert point.acquired_at is not None and point.acquired_at.line == error.line
    assert _path(error) == [
        (error.line, "acquired"),
        (error.line + 1, "branch"),
        (leaking, "branch"),
    ]


def test_a_pointer_through_a_stack_spill_is_followed_there_and_back(kernel: None) -> None:
    path = CAUSAL / "spilled_pointer.bpf.c"
    error = _error(path)
    lookup = _line(path, "RELATED: spilled")
    assert _path(error) == [(lookup, "update"), (lookup, "spilled"), (error.line, "update")]
    spilled = error.causal_path[1]
    assert spilled.text.startswith("R0 spilled to stack slot fp-")
    assert "may be NULL" in spilled.text
    assert _fix(error) == (FixKind.NULL_CHECK_MISSING, lookup)


def test_json_and_text_carry_the_path_and_the_fix(kernel: None) -> None:
    path = CAUSAL / "null_check_other_copy.bpf.c"
    error = _error(path)
    data = json.loads(json.dumps(finding_json(error)))
    assert data["explained_by"] == "kptr-lsp"
    assert data["category"] == "Register Type Safety"
    assert data["reason"] and data["suggestion"]
    steps = [(e["line"], e["label"]) for e in data["causal_path"]]
    assert steps == _path(error)
    related = [(r["line"], r["message"]) for r in data["related"]]
    for e in data["causal_path"]:
        assert (e["line"], f"{e['label']}: {e['text']}") in related
    (fix,) = data["fix_points"]
    assert fix["kind"] == "null-check-wrong-copy" and fix["line"] == _line(path, "wrong copy")
    text = _head(error).splitlines()
    assert text[0].endswith(f"error: {error.message.splitlines()[0]}")
    at = text.index("    causal path:")
    assert all(line.startswith("      ") for line in text[at + 1 :])
    assert text[-1].split(": ", 2)[1] == "fix here"


def test_a_use_after_release_shows_the_release_that_invalidated_it() -> None:
    """From the 7.3 capture's classic lines alone (its block cut off): the same path the 7.3
    kernel printed, derived the way kernels without the block get it."""
    text = (LOGS / "task_use_after_release.parent_pid_late.log").read_text()
    classic = text.split("\nVerification failed:")[0] + "\n"
    log = parse_log(classic)
    assert log.kernel_block is None
    path = derive(log)
    assert path is not None and path.category == "Register Type Safety"
    kernel = parse_log(text).kernel_block
    assert kernel is not None
    assert [(s.line, s.label) for s in path.steps] == [
        (e.line, e.label) for e in kernel.causal_path
    ]


@pytest.mark.parametrize("name", ["spilled_lookup.xdp_bytes", "kptr_xchg_leak.swap_task"])
def test_the_73_captures_read_without_their_block_give_the_kernels_lines(name: str) -> None:
    text = (LOGS / f"{name}.log").read_text()
    path = derive(parse_log(text.split("\nVerification failed:")[0] + "\n"))
    kernel = parse_log(text).kernel_block
    assert path is not None and kernel is not None
    assert path.category == kernel.category
    assert [(s.line, s.label) for s in path.steps] == [
        (e.line, e.label) for e in kernel.causal_path
    ]


def test_logs_without_a_path_give_none() -> None:
    assert derive(parse_log("")) is None
    assert derive(parse_log("processed 0 insns (limit 1000000)\n")) is None
    assert derive(parse_log("0: (95) exit\nR0 !read_ok\nprocessed 1 insns\n")) is not None


def test_every_captured_log_cut_anywhere_gives_a_path_or_none() -> None:
    """Total: real logs (tests/fixtures/logs, 6.x and 7.3 captures) cut after any line, as a
    rotated or truncated log is, never raise."""
    logs = sorted(LOGS.parent.glob("*.log")) + sorted(LOGS.glob("*.log"))
    assert len(logs) > 20
    derived = 0
    for log_path in logs:
        lines = log_path.read_text().splitlines(keepends=True)
        step = max(1, len(lines) // 200)
        for cut in range(0, len(lines) + 1, step):
            if derive(parse_log("".join(lines[:cut]))) is not None:
                derived += 1
    assert derived > 0


@pytest.mark.parametrize(
    "name,wording,register",
    [
        # `helper arg%d` prints the register number: arg2 is R2.
        ("stash_unchecked_acquire", "helper arg2", "R2"),
        # `trusted arg%d` prints the kfunc's 0-based argument index: arg1 is R2.
        ("cpumask_from_kptr", "trusted arg1", "R2"),
    ],
)
def test_an_argument_named_by_its_number_is_followed_to_where_it_was_produced(
    kernel: None, name: str, wording: str, register: str
) -> None:
    path = CAUSAL / f"{name}.bpf.c"
    error = _error(path)
    produced = read_expectations(path).related_lines[0]
    assert f"Possibly NULL pointer passed to {wording}" in error.message
    assert error.category == "Call Type Safety"
    # The argument's register, copied from where the maybe-NULL value was produced.
    assert _path(error) == [(produced, "update"), (error.line, "update")]
    assert error.causal_path[-1].text.startswith(f"{register} = R")
    assert "may be NULL" in error.causal_path[0].text
    assert error.reason is not None and f"{register} is" in error.reason
    assert f"produced at line {produced}" in error.reason
    assert _fix(error) == (FixKind.NULL_CHECK_MISSING, produced)
    assert error.suggestion is not None and "NULL" in error.suggestion


def test_a_return_inside_a_lock_region_names_the_lock_the_branch_and_the_exit(
    kernel: None,
) -> None:
    path = CAUSAL / "unlock_missing_early_return.bpf.c"
    error = _error(path)
    locked = _line(path, "RELATED: locked")
    early = _line(path, "if (b->tokens == 0)")
    assert error.category == "Execution Context Safety"
    # The error on the exit's own line (both returns merged into the closing brace), not on
    # the `if` whose jump reached it (the log's last note there is the jump's).
    assert error.line == _line(path, "EXPECT") and early < error.line
    # Taken, then the `if` that returns early, then that exit (the log names it under the
    # `if`: the note in effect when the path jumped there).
    assert _path(error) == [(locked, "context"), (early, "branch"), (early, "context")]
    branch, exit_ = error.causal_path[1:]
    assert "was true on this path" in branch.text
    assert "returns here" in exit_.text and f"entered at line {locked}" in exit_.text
    assert "bpf_spin_unlock" in exit_.text
    assert error.reason is not None and f"entered at line {locked}" in error.reason
    assert error.explanation_id == "spin-unlock-missing"
    assert error.explanation is not None
    assert "The lock is taken at instruction " in error.explanation
    assert f"at line {locked} (`bpf_spin_lock(&b->lock);`)" in error.explanation
    assert f"at line {early} (`if (b->tokens == 0)`), where the condition was true" in (
        error.explanation
    )
    assert "call bpf_spin_unlock() before that return" in error.explanation


def test_the_leak_explanation_names_the_acquire_the_leaking_branch_and_the_exit(
    kernel: None,
) -> None:
    """Two branches after the acquire: the NULL check (no reference on its early return) and
    the kernel-thread test, whose return leaks. The explanation names the second."""
    path = CAUSAL / "release_one_branch.bpf.c"
    error = _error(path)
    leaking = _line(path, "RELATED: leaking branch")
    null_check = _line(path, "if (!parent)")
    exit_line = _line(path, "RELATED: exit")
    assert error.explanation_id == "reference-leak" and error.explanation is not None
    text = error.explanation.split("\n\nWhy: ")[0]  # the catalogue's words, not causal.py's
    assert f"at line {error.line} (`parent = bpf_task_acquire(task->real_parent);`) by " in text
    assert "by bpf_task_acquire()." in text
    assert "goes through instruction " in text
    assert (
        f"at line {leaking} (`if (parent->flags & PF_KTHREAD)`), where the condition was true"
        in text
    )
    assert f"line {null_check}" not in text
    assert "reaches the exit at instruction " in text and f"at line {exit_line} " in text
    assert "The matching release is bpf_task_release()." in text
    # Not a list of every kind of reference there is.
    assert "bpf_ringbuf_submit" not in text.split("\nFix: ")[0]
