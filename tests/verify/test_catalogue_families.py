"""Catalogue entries for the messages of issue #14 §5/§6: each one's real program (batched,
several per file) is compiled with clang and verified by the running kernel; the kernel says
the message, the entry explains it on the program's line, and the explanation names the
concrete instruction, line, helper/kfunc and register facts of that program's own log."""

from __future__ import annotations

import re

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.findings import Finding, Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.explanations import catalogue
from tests.catalogue_cases import ALSO, CASES, EXISTING, PROGRAMS, Case, resolve
from tests.expectations import read_expectations

FILES = sorted({c.file for c in (*CASES, *ALSO, *EXISTING)})


@pytest.fixture(scope="module")
def analyses(kernel: None) -> dict[str, Analysis]:
    """One analysis per file (each file holds many programs, each verified on its own)."""
    out: dict[str, Analysis] = {}
    for file in FILES:
        path = PROGRAMS / file
        out[file] = analyse(str(path), path.read_text(), Settings())
    return out


def _error_of(analysis: Analysis, program: str) -> Finding:
    errors = [
        f for f in analysis.findings if f.severity is Severity.ERROR and program in f.programs
    ]
    assert len(errors) == 1, [(f.line, f.message[:60]) for f in errors]
    return errors[0]


@pytest.mark.parametrize("case", [*CASES, *ALSO, *EXISTING], ids=lambda c: f"{c.entry}:{c.program}")
def test_kernel_message_is_explained_with_this_programs_facts(
    analyses: dict[str, Analysis], case: Case
) -> None:
    path = PROGRAMS / case.file
    text = path.read_text()
    analysis = analyses[case.file]
    program = next(p for p in analysis.programs if p.name == case.program)
    assert not program.accepted, f"{case.program} loaded: the kernel did not reject it"
    error = _error_of(analysis, case.program)
    # The kernel's (or libbpf's) words, as the file's EXPECT on that line quotes them.
    expect = [e for e in read_expectations(path).expects if e.line == error.line]
    assert expect, f"{case.program}: error on line {error.line}, no EXPECT there"
    assert expect[0].text in error.message
    # Our explanation: the entry, filled with this log's facts.
    assert error.explanation_id == case.entry
    entry = next(e for e in catalogue() if e.id == case.entry)
    assert error.explanation is not None
    assert error.explanation.startswith(entry.title)
    assert not re.search(r"\{\w+\}", error.explanation)  # every placeholder filled
    for detail in case.details:
        assert resolve(detail, text) in error.explanation, error.explanation


def test_every_new_entry_has_a_case_with_details() -> None:
    ids = {e.id for e in catalogue()}
    for case in CASES:
        assert case.entry in ids
        entry = next(e for e in catalogue() if e.id == case.entry)
        # An entry that can name this program's facts does, and its case checks one.
        if entry.detail:
            assert case.details, case.entry


def test_removed_kptr_get_is_not_called_a_misspelling(analyses: dict[str, Analysis]) -> None:
    """§6: libbpf (1.4) on 6.18 says only that the kfunc is not found; the explanation gives
    today's replacement instead of the generic 'misspelling or newer kfunc' of kfunc-unknown."""
    analysis = analyses["catalogue/removed_kptr_get.bpf.c"]
    error = _error_of(analysis, "parent_pid")
    assert "'bpf_task_kptr_get': not found in kernel or module BTFs" in error.message
    assert error.explanation is not None
    assert "a misspelling," not in error.explanation
    fix = error.explanation.split("\nFix: ", 1)[1]
    # RCU read section, load the kptr, acquire with the matching *_acquire, release after.
    order = ["bpf_rcu_read_lock()", "p = v->field", "bpf_task_acquire(p)", "bpf_rcu_read_unlock()"]
    positions = [fix.index(step) for step in order]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "file,program,wording,held",
    [
        # The register number: arg2 is R2 (the maybe-NULL cpumask loaded from the kptr field).
        ("catalogue/helper_args.bpf.c", "swap_mask", "helper arg2", "R2 is RCU-protected"),
        # The 0-based index: arg0/arg#0/args#0/`arg #0` are R1.
        ("catalogue/kfunc_null_arg.bpf.c", "release_maybe_null", "trusted arg0", "R1 is task"),
        ("catalogue/irq_flags.bpf.c", "restore_unsaved", "arg#0", "R1 is pointer to the stack"),
        ("catalogue/iterators.bpf.c", "sum_uncreated", "as arg #0", "R1 is pointer to the stack"),
        ("catalogue/kfunc_wrong_struct.bpf.c", "release_mask_as_task", "args#0", "R1 is bpf_"),
    ],
)
def test_an_argument_number_names_the_register_the_kernel_means(
    analyses: dict[str, Analysis], file: str, program: str, wording: str, held: str
) -> None:
    """kernel/arg_words.py: each wording's number is mapped to the register that holds the
    refused value on this kernel (the pointer to the flag or iterator on the stack, the
    maybe-NULL pointer), and the causal path follows that register."""
    error = _error_of(analyses[file], program)
    assert wording in error.message.split("\n")[0]
    assert error.reason is not None and f"At the failing instruction {held}" in error.reason
    assert error.causal_path, "no lineage for the argument's register"


@pytest.mark.parametrize(
    "file,program,statement,jump",
    [
        ("catalogue/pointer_arith.bpf.c", "len_or_default", "return *len;", "if (skb->protocol"),
        (
            "catalogue/irq_flags.bpf.c",
            "early_return",
            "int BPF_PROG(early_return",
            "task->pid == 1",
        ),
    ],
)
def test_an_error_reached_by_a_jump_is_on_the_failing_statement_not_the_jump(
    analyses: dict[str, Analysis], file: str, program: str, statement: str, jump: str
) -> None:
    """The log reached the failing instruction by a jump, and the last note it printed is
    the jump's line (the target's note went with the rewound path): the diagnostic is on the
    instruction's own line from the object's line info (the load; the merged exit)."""
    text = (PROGRAMS / file).read_text()
    error = _error_of(analyses[file], program)
    assert error.line == int(resolve(f"@{{{statement}}}", text))
    assert any(e.location.line == int(resolve(f"@{{{jump}}}", text)) for e in error.causal_path)
