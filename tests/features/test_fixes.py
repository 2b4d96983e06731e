"""Every quick fix, applied to the program it is for, makes the kernel verifier accept it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.features.fixes import apply_edits, fixes_for
from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAMS = Path(__file__).parents[1] / "programs" / "rejected"

CASES = {
    "map_value_null_deref": ["Return early when `count` is NULL"],
    "kptr_untrusted_deref_no_null": ["Return early when `prev` is NULL"],
    "subprog_error": ["Return early when `total` is NULL"],
    "obj_new_leak": ["Drop `c` before this return"],
    "ringbuf_leak": [
        "Submit `e` to the ring buffer before this return",
        "Discard `e` before this return",
    ],
    "kptr_xchg_leak": ["Release `old` with bpf_task_release() before this return"],
    "dynptr_ringbuf_not_submitted": [
        "Submit the record in `ptr` before this return",
        "Discard the record in `ptr` before this return",
    ],
    "kptr_ref_direct_store": [
        "Store with bpf_kptr_xchg() and release the old value with bpf_task_release()"
    ],
}


def errors(analysis: Analysis) -> list[str]:
    return [f.message for f in analysis.findings if f.severity is Severity.ERROR]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fix_makes_the_verifier_accept_the_program(kernel: None, name: str) -> None:
    path = PROGRAMS / f"{name}.bpf.c"
    text = path.read_text()
    before = analyse(str(path), text, Settings())
    (finding,) = [f for f in before.findings if f.code == "verifier"]
    fixes = fixes_for(before, finding)
    assert [f.title for f in fixes] == CASES[name]
    for fix in fixes:
        fixed = apply_edits(text, fix.edits)
        after = analyse(str(path), fixed, Settings())
        assert after.verified
        assert errors(after) == [], f"{fix.title}:\n{fixed}"


def test_no_fix_for_errors_it_does_not_know(kernel: None) -> None:
    path = PROGRAMS / "kptr_wrong_type_store.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings())
    assert analysis.rejected
    assert all(fixes_for(analysis, f) == [] for f in analysis.findings)


def test_release_keeps_the_return_value_read_before_it(kernel: None) -> None:
    path = PROGRAMS / "kptr_xchg_leak.bpf.c"
    text = path.read_text()
    analysis = analyse(str(path), text, Settings())
    (finding,) = [f for f in analysis.findings if f.code == "verifier"]
    (fix,) = fixes_for(analysis, finding)
    fixed = apply_edits(text, fix.edits)
    assert (
        "if (old) {\n\t\tlong ret = old->pid;\n\t\tbpf_task_release(old);\n\t\treturn ret;\n\t}"
        in (fixed)
    )
