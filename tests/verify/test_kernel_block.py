"""The 7.3 kernel's own explanation block, parsed from logs captured in its VM
(tests/fixtures/logs/7.3, see its README), and what a finding makes of it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.pipeline import analyse
from kptr_lsp.report.json_ import finding_json
from kptr_lsp.settings import Settings
from kptr_lsp.targets.verdicts import merge
from kptr_lsp.verify.kernel_block import BlockEvent, KernelBlock, shared_explanation, split_block
from kptr_lsp.verify.loader import ObjectResult
from kptr_lsp.verify.log import parse_log
from kptr_lsp.verify.placement import object_findings
from tests.expectations import read_expectations

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "7.3"
REJECTED = Path(__file__).resolve().parent.parent / "programs" / "rejected"
# The categories kernel/bpf/diagnostics.c names.
CATEGORIES = {
    "Register Type Safety",
    "Memory Safety",
    "Resource Lifetime Safety",
    "Call Type Safety",
    "Execution Context Safety",
    "Program Structure",
    "Policy",
}
WITHOUT_BLOCK = {
    "kptr_ref_direct_store.stash_task",
    "kptr_wrong_access_size.low_bits",
    "kptr_wrong_type_store.stash_mask",
}
ALL = sorted(p.name.removesuffix(".log") for p in LOGS.glob("*.log"))


def block(name: str) -> KernelBlock:
    found = parse_log((LOGS / f"{name}.log").read_text()).kernel_block
    assert found is not None
    return found


def path_of(b: KernelBlock) -> list[tuple[str, int, int]]:
    return [(e.label, e.line, e.column) for e in b.causal_path]


def line_of(source: Path, needle: str) -> int:
    return next(i for i, t in enumerate(source.read_text().splitlines(), 1) if needle in t)


def test_every_capture_is_read() -> None:
    assert len(ALL) == 18
    for name in ALL:
        log = parse_log((LOGS / f"{name}.log").read_text())
        assert log.error and "Verification failed" not in log.error, name
        if name in WITHOUT_BLOCK:
            assert log.kernel_block is None
            continue
        b = log.kernel_block
        assert b is not None, name
        assert b.category in CATEGORIES and b.problem and b.reason and b.suggestion
        assert b.at is not None and b.at.label == "error" and b.at.line > 0
        assert b.causal_path, name
        # wrapped at 100 columns by the kernel, joined again here
        assert all("\n" not in t and "  " not in t for t in (b.reason, b.suggestion))


def test_a_null_dereference_reads_as_category_reason_path_suggestion() -> None:
    b = block("map_value_null_deref.count_syscalls")
    assert b.headline == "Register Type Safety: Invalid dereference"
    assert b.reason == (
        "R0 may be NULL here (a nullable map value pointer). The program could dereference "
        "NULL on this path, so the verifier cannot prove this access is safe."
    )
    assert b.at == BlockEvent(
        "error",
        "invalid dereference of R0 (a nullable map value pointer)",
        "map_value_null_deref.bpf.c",
        23,
        9,
        "count_syscalls",
        insn=8,
        section="At",
    )
    lookup = line_of(REJECTED / "map_value_null_deref.bpf.c", "bpf_map_lookup_elem(")
    (event,) = b.causal_path
    assert (event.label, event.line, event.column, event.insn) == ("update", lookup, 10, 7)
    # three wrapped lines in the log, one text here
    assert event.text == (
        "R0 changed from integer scalar with signed range [0, 4294967295], unsigned range "
        "[0, 4294967295] to nullable map value from syscalls_per_pi at offset 0"
    )
    assert b.suggestion == (
        "Add a NULL check before the access and dereference the pointer only on the non-NULL path."
    )


def test_the_classic_error_stays_the_error_and_the_lines_after_the_block_too() -> None:
    log = parse_log((LOGS / "kptr_xchg_leak.swap_task.log").read_text())
    assert log.error == (
        "Unreleased reference id=4 alloc_insn=15\n"
        "BPF_EXIT instruction in main prog would lead to reference leak"
    )
    assert log.unreleased is not None and log.unreleased.alloc_insn == 15
    assert log.mentioned_insns == (15,)  # not the instructions of the block's contexts
    assert log.stats is not None and log.stats.processed_insns == 19
    b = log.kernel_block
    assert b is not None and b.headline == "Resource Lifetime Safety: Unreleased resource"
    source = REJECTED / "kptr_xchg_leak.bpf.c"
    assert path_of(b) == [
        ("acquired", line_of(source, "bpf_kptr_xchg(&s->task"), 8),
        ("branch", line_of(source, "if (old)"), 6),
    ]
    assert b.causal_path[0].text == "owned resource (id=4)"
    assert b.causal_path[1].text == "took the false branch of this conditional, goto not followed"


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("spilled_lookup.xdp_bytes", ["update", "spilled", "update"]),
        ("task_use_after_release.parent_pid_late", ["update", "branch", "update", "invalidated"]),
        ("spin_lock_held_at_call.stamp", ["context"]),
        ("ringbuf_leak.emit_fork", ["acquired", "branch"]),
    ],
)
def test_each_kind_of_step_is_read_in_order(name: str, labels: list[str]) -> None:
    assert [e.label for e in block(name).causal_path] == labels


def test_a_spill_and_an_invalidation_keep_the_kernels_words() -> None:
    spilled = block("spilled_lookup.xdp_bytes").causal_path[1]
    assert spilled.text == (
        "stack slot fp-16 changed from uninitialized value to nullable map value from "
        "bytes_by_ifinde at offset 0"
    )
    released = block("task_use_after_release.parent_pid_late")
    source = LOGS / "task_use_after_release.bpf.c"
    last = released.causal_path[-1]
    assert (last.line, last.insn) == (line_of(source, "bpf_task_release(parent);"), 6)
    assert last.text.startswith("R6: resource release invalidated this pointer")
    assert released.reason == "R6 is an integer scalar here, not a pointer to memory."


def test_log_level_5_adds_statistics_not_error_text() -> None:
    for name in ("map_value_null_deref.count_syscalls", "kptr_xchg_leak.swap_task"):
        one = parse_log((LOGS / f"{name}.log").read_text())
        five = parse_log((LOGS / f"{name}.level5.log").read_text())
        assert five.error == one.error
        assert five.kernel_block is not None and one.kernel_block is not None
        assert five.kernel_block.headline == one.kernel_block.headline
        assert five.stats is not None and five.stats.verification_time_us is not None


def test_a_block_cut_anywhere_is_read_as_far_as_it_goes() -> None:
    lines = (LOGS / "task_use_after_release.parent_pid_late.log").read_text().splitlines()
    start = next(i for i, t in enumerate(lines) if t.startswith("Verification failed:"))
    for end in range(start, len(lines) + 1):
        outside, b = split_block(lines[:end])
        assert b is not None if end > start else b is None
        assert not any(t.startswith("Verification failed") for t in outside)


def test_a_classic_line_ending_in_a_colon_after_the_block_is_not_a_section() -> None:
    lines = (LOGS / "map_value_null_deref.count_syscalls.log").read_text().splitlines()
    stats = next(i for i, t in enumerate(lines) if t.startswith("processed "))
    words = "Caller passes invalid args:"  # classic words the kernel might print next
    outside, b = split_block([*lines[:stats], words, *lines[stats:]])
    assert b is not None and b.suggestion.startswith("Add a NULL check")
    assert words in outside


def test_lines_without_a_block_pass_through() -> None:
    lines = ["R0 invalid mem access 'map_value_or_null'", "  indented", ""]
    assert split_block(lines) == (lines, None)


# The finding: the 7.3 log of a program, placed on the object compiled here from the same
# source (same clang, same instructions), next to what the running kernel said about it.


@pytest.fixture(scope="module")
def null_deref(kernel: None) -> tuple[list[Finding], list[Finding]]:
    """(running kernel's findings, 7.3's findings) for map_value_null_deref.bpf.c."""
    path = REJECTED / "map_value_null_deref.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings())
    assert analysis.model is not None and analysis.compile is not None
    assert analysis.compile.obj is not None
    ctx = analysis.model
    log73 = (LOGS / "map_value_null_deref.count_syscalls.level5.log").read_text()
    (prog,) = analysis.programs
    result = ObjectResult((dataclasses.replace(prog, log=log73),), False, "", None)
    errors = [f for f in analysis.findings if f.severity is Severity.ERROR]
    return errors, [f for f in object_findings(ctx, result) if f.severity is Severity.ERROR]


def test_the_finding_keeps_the_classic_line_first_then_the_category(
    null_deref: tuple[list[Finding], list[Finding]],
) -> None:
    (running,), (finding,) = null_deref
    source = REJECTED / "map_value_null_deref.bpf.c"
    expected = read_expectations(source).expects[0]
    assert finding.line == running.line == expected.line
    lines = finding.message.splitlines()
    assert lines[0] == "R0 invalid mem access 'map_value_or_null'" == running.message.split("\n")[0]
    assert lines[1] == "Register Type Safety: Invalid dereference"
    assert "Reason:" not in finding.message and "Causal path" not in finding.message
    assert finding.explanation is not None
    assert finding.explanation.startswith("The kernel's reason: R0 may be NULL here")
    assert "The kernel's suggestion: Add a NULL check" in finding.explanation
    # kptr-lsp's catalogue words follow, as they follow kptr-lsp's own reading on this kernel.
    catalogue = shared_explanation(running)
    assert catalogue and finding.explanation.endswith(catalogue)
    lookup = line_of(source, "bpf_map_lookup_elem(")
    (step,) = finding.causal_path
    assert (step.location.file, step.location.line, step.location.col) == (str(source), lookup, 10)
    assert step.related() in finding.related
    assert step.related().message.startswith("update: R0 changed from integer scalar")


def test_json_carries_the_blocks_fields(
    null_deref: tuple[list[Finding], list[Finding]],
) -> None:
    (running,), (finding,) = null_deref
    data = json.loads(json.dumps(finding_json(finding)))
    assert data["category"] == "Register Type Safety"
    assert data["problem"] == "Invalid dereference"
    assert str(data["reason"]).startswith("R0 may be NULL here")
    assert str(data["suggestion"]).startswith("Add a NULL check")
    (step,) = data["causal_path"]
    assert step["label"] == "update" and step["column"] == 10
    assert {"file": step["file"], "line": step["line"]} in [
        {"file": r["file"], "line": r["line"]} for r in data["related"]
    ]
    assert data["explained_by"] == "kernel"
    # The running kernel prints no block: kptr-lsp's reading of its log, in the same fields.
    here = finding_json(running)
    assert (here["category"], here["explained_by"]) == ("Register Type Safety", "kptr-lsp")
    assert [e["line"] for e in here["causal_path"]] == [step["line"]]


def test_two_kernels_with_the_same_classic_line_agree(
    null_deref: tuple[list[Finding], list[Finding]],
) -> None:
    running, new = null_deref
    (merged,) = merge([("6.18", running), ("7.3", new)])
    lines = merged.message.splitlines()
    assert lines[0] == "[6.18, 7.3] R0 invalid mem access 'map_value_or_null'"
    # Both say it in the same category names (7.3 itself, kptr-lsp from 6.18's log): once.
    assert lines[1] == "[6.18, 7.3] Register Type Safety: Invalid dereference"
    assert "Not reported by" not in merged.message
    assert merged.explanation is not None
    assert merged.explanation.startswith("[6.18] Why: ")
    assert "\n[7.3] The kernel's reason: R0 may be NULL here" in merged.explanation
    assert merged.explanation.count(shared_explanation(running[0]) or "?") == 1
    (step,) = [r for r in merged.related if "changed from" in r.message]
    assert step.message.startswith("[7.3] update: R0 changed from")
    assert merged.category == "Register Type Safety" and len(merged.causal_path) == 1


def test_a_different_classic_line_is_still_two_verdicts() -> None:
    where = Location("/x.bpf.c", 3, 1)
    old = Finding(where, Severity.ERROR, Source.VERIFIER, "R1 must be referenced or trusted")
    new = Finding(
        where,
        Severity.ERROR,
        Source.VERIFIER,
        "R1 must be a rcu pointer\nCall Type Safety: Invalid call argument",
        category="Call Type Safety",
        problem="Invalid call argument",
    )
    merged = merge([("6.18", [old]), ("7.3", [new])])
    assert [f.message.split("\n")[-1] for f in merged] == [
        "Not reported by 7.3.",
        "Not reported by 6.18.",
    ]
