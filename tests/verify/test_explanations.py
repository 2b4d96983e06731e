"""The explanation catalogue: every entry is produced by a real program on this kernel, its
pattern matches the real log, and the explanation reaches the diagnostic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify.explanations import (
    SOURCE_DOCS,
    CatalogueError,
    catalogue,
    explain,
    parse_catalogue,
    render_docs,
)
from kptr_lsp.verify.loader import Failure
from kptr_lsp.verify.log import parse_log
from tests.catalogue_cases import ALSO as CASES_ALSO
from tests.catalogue_cases import CASES, DETAILS, EXISTING, resolve
from tests.expectations import read_expectations

PROGRAMS = Path(__file__).parents[1] / "programs"

# Which real program makes the kernel (or libbpf) say each catalogued message.
PROVEN_BY = {
    "map-value-null": "rejected/map_value_null_deref.bpf.c",
    "kptr-load-null": "rejected/kptr_untrusted_deref_no_null.bpf.c",
    "pointer-maybe-null": "catalogue/ptr_or_null_deref.bpf.c",
    "null-pointer-arithmetic": "catalogue/null_pointer_arithmetic.bpf.c",
    "kfunc-null-arg": "catalogue/kfunc_null_arg.bpf.c",
    "scalar-deref": "catalogue/scalar_deref.bpf.c",
    "kptr-wrong-type": "rejected/kptr_wrong_type_store.bpf.c",
    "kptr-ref-direct-store": "rejected/kptr_ref_direct_store.bpf.c",
    "kptr-access-size": "rejected/kptr_wrong_access_size.bpf.c",
    "kptr-map-without-btf": "rejected/btf_rejected_no_notes.bpf.c",
    "kfunc-rcu-arg": "rejected/kfunc_untrusted_arg.bpf.c",
    "reference-leak": "rejected/obj_new_leak.bpf.c",
    "release-unacquired": "catalogue/release_unacquired.bpf.c",
    "rcu-unlock-missing": "catalogue/rcu_unlock_missing.bpf.c",
    "spin-unlock-missing": "projects/causal/unlock_missing_early_return.bpf.c",
    "kfunc-wrong-struct": "catalogue/kfunc_wrong_struct.bpf.c",
    "kfunc-not-allowed": "catalogue/kfunc_not_allowed.bpf.c",
    "kfunc-unknown": "rejected/missing_kfunc.bpf.c",
    "helper-not-allowed": "catalogue/helper_not_allowed.bpf.c",
    "helper-wrong-arg": "catalogue/helper_wrong_arg.bpf.c",
    "helper-might-sleep": "catalogue/sleepable_helper.bpf.c",
    "dynptr-uninit": "catalogue/dynptr_uninit.bpf.c",
    "dynptr-overwrite": "catalogue/dynptr_reinit.bpf.c",
    "dynptr-unacquired": "catalogue/dynptr_submit_local.bpf.c",
    "dynptr-from-mem-type": "catalogue/dynptr_from_stack.bpf.c",
    "map-value-index-too-large": "catalogue/index_off_by_one.bpf.c",
    "map-value-out-of-bounds": "catalogue/map_value_out_of_bounds.bpf.c",
    "unbounded-index": "catalogue/index_unbounded.bpf.c",
    "negative-size": "catalogue/index_min_negative.bpf.c",
    "packet-bounds": "catalogue/packet_no_bounds_check.bpf.c",
    "ctx-access": "catalogue/ctx_bad_offset.bpf.c",
    "rodata-write": "catalogue/rodata_write.bpf.c",
    "combined-stack-too-large": "catalogue/combined_stack_too_large.bpf.c",
    "call-stack-too-deep": "catalogue/call_stack_too_deep.bpf.c",
    "r0-not-set": "catalogue/r0_not_set.bpf.c",
    "infinite-loop": "catalogue/infinite_loop.bpf.c",
    "too-large": "catalogue/too_large.bpf.c",
    "too-complex": "catalogue/too_many_branches.bpf.c",
    "exit-code-range": "catalogue/exit_code_range.bpf.c",
}
PROVEN_BY_FILE = {file: entry for entry, file in PROVEN_BY.items()}
# Other real programs whose messages the same entries must explain.
ALSO = {
    "rejected/ringbuf_leak.bpf.c": "reference-leak",
    "rejected/kptr_xchg_leak.bpf.c": "reference-leak",
    "rejected/dynptr_ringbuf_not_submitted.bpf.c": "reference-leak",
    "rejected/subprog_error.bpf.c": "map-value-null",
}


def test_catalogue_covers_what_users_hit() -> None:
    entries = catalogue()
    assert len(entries) >= 25
    categories = {e.category for e in entries}
    for wanted in ("kptrs", "dynptrs", "reference leaks", "NULL checks", "bounds", "stack"):
        assert wanted in categories
    ids = {e.id for e in entries}
    for wanted in ("infinite-loop", "kfunc-unknown", "too-large"):
        assert wanted in ids


def test_every_entry_is_proven_by_a_program() -> None:
    # The entries of issue #14 §5/§6 are proven by batched programs (test_catalogue_families.py).
    batched = {c.entry for c in CASES}
    assert not set(PROVEN_BY) & batched
    assert set(PROVEN_BY) | batched == {e.id for e in catalogue()}
    for program in [*PROVEN_BY.values(), *ALSO, *(c.file for c in CASES)]:
        assert read_expectations(PROGRAMS / program).expects, program


def _kernel_words(analysis: Analysis) -> str:
    """What the kernel (or libbpf, when the load stopped before the kernel) said."""
    failed = [p for p in analysis.programs if not p.accepted]
    assert len(failed) == 1, [p.name for p in failed]
    prog = failed[0]
    if prog.failure is Failure.VERIFIER:
        error = parse_log(prog.log).error
        assert error is not None
        return error
    return "".join(m.text for m in prog.libbpf_messages if m.level == "warn")


@pytest.mark.parametrize(
    "program,entry_id",
    [(p, i) for i, p in PROVEN_BY.items()] + list(ALSO.items()),
    ids=lambda v: str(v),
)
def test_entry_matches_the_real_message_and_reaches_the_diagnostic(
    kernel: None, program: str, entry_id: str
) -> None:
    path = PROGRAMS / program
    analysis = analyse(str(path), path.read_text(), Settings())
    # The pattern matches the real log, and no earlier entry shadows it.
    explained = explain(_kernel_words(analysis))
    assert explained is not None and explained.entry.id == entry_id
    # The explanation is attached to the error on the line the file announces, with the
    # kernel's variable parts filled in.
    line = next(e.line for e in read_expectations(path).expects if e.severity == 1)
    finding = next(f for f in analysis.findings if f.line == line and f.severity is Severity.ERROR)
    assert finding.explanation_id == entry_id
    assert finding.explanation is not None
    assert finding.explanation.startswith(explained.entry.title)
    assert "Fix: " in finding.explanation
    assert not re.search(r"\{\w+\}", finding.explanation)  # every placeholder filled
    for value in explained.groups.values():
        assert value in _kernel_words(analysis)
    # The facts of this program's own log (tests/catalogue_cases.py DETAILS).
    for detail in DETAILS.get(program, ()):
        assert resolve(detail, path.read_text()) in finding.explanation, finding.explanation


def test_every_entry_with_detail_is_checked_on_a_program() -> None:
    """An entry that can name a program's facts has a program whose explanation is checked
    for them (here, DETAILS, or in test_catalogue_families.py, CASES)."""
    checked = {PROVEN_BY_FILE[f] for f in DETAILS if f in PROVEN_BY_FILE}
    checked |= {ALSO[f] for f in DETAILS if f in ALSO}
    checked |= {c.entry for c in (*CASES, *CASES_ALSO, *EXISTING) if c.details}
    for entry in catalogue():
        if entry.detail:
            assert entry.id in checked, entry.id
    assert set(DETAILS) <= set(PROVEN_BY_FILE) | set(ALSO)


def test_register_and_ids_are_named_in_the_explanation(kernel: None) -> None:
    path = PROGRAMS / "rejected/obj_new_leak.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings())
    leak = next(f for f in analysis.findings if f.explanation_id == "reference-leak")
    # `Unreleased reference id=2 alloc_insn=4`: both numbers come back in our words.
    assert "Instruction 4 acquired a reference (id 2)" in (leak.explanation or "")


def test_message_outside_the_catalogue_shows_the_failing_path(kernel: None) -> None:
    path = PROGRAMS / "rejected/rdonly_slice_write.bpf.c"
    text = path.read_text()
    analysis = analyse(str(path), text, Settings())
    error = next(f for f in analysis.findings if f.severity is Severity.ERROR)
    assert error.message.startswith("R0 cannot write into rdonly_mem")
    assert error.explanation_id is None
    lines = text.splitlines()
    slice_line = next(n for n, t in enumerate(lines, 1) if "bpf_dynptr_slice(&pkt" in t)
    check_line = next(n for n, t in enumerate(lines, 1) if "if (!eth)" in t)
    assert error.explanation is not None
    assert f"line {slice_line} → line {check_line} → line {error.line}." in error.explanation
    assert {slice_line, check_line} <= {r.location.line for r in error.related}
    walked = [r for r in error.related if r.message.startswith("on the failing path")]
    assert len(walked) <= 4  # short: the last few steps only
    # The causal path (verify/causal.py) names where R0 came from and the check it passed.
    path_steps = [(e.location.line, e.label) for e in error.causal_path]
    assert path_steps[:2] == [(slice_line, "update"), (check_line, "branch")]
    assert "bpf_dynptr_slice()" in error.causal_path[0].text


def test_detail_sentences_appear_only_when_their_facts_are_known() -> None:
    (entry,) = parse_catalogue(
        '[[message]]\nid = "x"\ncategory = "c"\ntitle = "T"\npattern = "R(?P<reg>\\\\d+) bad"\n'
        'cause = "Why."\nfix = "f"\ndetail = ["{call} at {at}.", "R{reg} is {reg_type}."]\n'
    )
    explained = explain("R3 bad", (entry,), facts=lambda e, groups: {"reg_type": "ctx"})
    assert explained is not None
    # {call} and {at} are unknown: that sentence is left out, the other is filled.
    assert explained.text() == "T. R3 is ctx. Why.\nFix: f"


def test_docs_page_is_generated_from_the_catalogue() -> None:
    assert SOURCE_DOCS.read_text() == render_docs(), (
        "docs/verifier-messages.md is stale: python -m kptr_lsp.verify.explanations > "
        "docs/verifier-messages.md"
    )
    for entry in catalogue():
        assert f'<a id="{entry.id}"></a>' in SOURCE_DOCS.read_text()


@pytest.mark.parametrize(
    "toml,problem",
    [
        ('[[message]]\nid = "x"\n', "missing"),
        (
            '[[message]]\nid = "x"\ncategory = "c"\ntitle = "t"\npattern = "("\n'
            'cause = "c"\nfix = "f"\n',
            "pattern",
        ),
        (
            '[[message]]\nid = "x"\ncategory = "c"\ntitle = "t"\npattern = "R(\\\\d+)"\n'
            'cause = "R{reg}"\nfix = "f"\n',
            "no group for ['reg']",
        ),
        (
            '[[message]]\nid = "Bad Id"\ncategory = "c"\ntitle = "t"\npattern = "p"\n'
            'cause = "c"\nfix = "f"\n',
            "kebab-case",
        ),
        (
            '[[message]]\nid = "x"\ncategory = "c"\ntitle = "t"\npattern = "p"\n'
            'cause = "c"\nfix = "f"\ndetail = ["{at} in {nonesuch}"]\n',
            "detail names no group or fact ['nonesuch']",
        ),
        (
            '[[message]]\nid = "x"\ncategory = "c"\ntitle = "t"\npattern = "p"\n'
            'cause = "c"\nfix = "f"\ndetail = "{at}"\n',
            "detail must be a list",
        ),
        (
            '[[message]]\nid = "x"\ncategory = "c"\ntitle = "t"\npattern = "p"\n'
            'cause = "c"\nfix = "f"\ncalls = "bpf_("\n',
            "calls:",
        ),
    ],
)
def test_a_broken_catalogue_fails_at_load(toml: str, problem: str) -> None:
    with pytest.raises(CatalogueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_catalogue(toml)
