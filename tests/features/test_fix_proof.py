"""features/fix_proof on its own: a fix is judged by compiling and loading what it produces
into the running kernel's verifier, and the proof is kept for the editor's next ask."""

from __future__ import annotations

from pathlib import Path

import pytest

from kptr_lsp.analysis import Analysis
from kptr_lsp.features import fix_proof
from kptr_lsp.features.fix_proof import known, prove
from kptr_lsp.features.fixes import Edit, Fix
from kptr_lsp.findings import Finding, Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAM = Path(__file__).parents[1] / "programs" / "rejected" / "two_programs_one_bad.bpf.c"
CHECK = "\tif (!n)\n\t\treturn XDP_PASS;\n"


def _rejected() -> tuple[Analysis, Finding, int]:
    """The analysis of the program, its verifier error, and the line of that error."""
    text = PROGRAM.read_text()
    analysis = analyse(str(PROGRAM), text, Settings())
    error = next(f for f in analysis.findings if f.severity is Severity.ERROR)
    assert "map_value_or_null" in error.message and error.programs == ("xdp_bad",)
    return analysis, error, error.line


def _insert(finding: Finding, line: int, text: str, title: str) -> Fix:
    return Fix(title, (Edit(line, 0, line, 0, text),), finding)


def test_a_fix_the_kernel_accepts_holds_and_is_kept(
    kernel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis, error, line = _rejected()
    fix = _insert(error, line, CHECK, "Return early when `n` is NULL")
    assert known(analysis, fix, Settings()) is None
    proof = prove(analysis, fix, Settings())
    assert proof.holds and proof.detail == "the kernel accepts the fixed program"
    assert known(analysis, fix, Settings()) == proof

    def no_second_analysis(*_args: object, **_kwargs: object) -> Analysis:
        raise AssertionError("a kept proof is not taken again")

    monkeypatch.setattr(fix_proof, "analyse", no_second_analysis)
    assert prove(analysis, fix, Settings()) == proof


def test_a_fix_that_does_not_compile_is_not_offered(kernel: None) -> None:
    analysis, error, line = _rejected()
    fix = _insert(error, line, "\tif (!n))\n", "A broken edit")
    proof = prove(analysis, fix, Settings())
    assert not proof.holds
    assert proof.detail.startswith("the fixed program does not compile: ")


def test_a_fix_after_which_the_kernel_stops_elsewhere_holds_and_says_what_follows(
    kernel: None,
) -> None:
    """The finding's own error is gone; the verifier now stops at a later, other error."""
    analysis, error, line = _rejected()
    fix = _insert(error, line, CHECK + "\tctx->data = 0;\n", "Check, then write the context")
    proof = prove(analysis, fix, Settings())
    assert proof.holds, proof.detail
    assert proof.detail.startswith("the kernel no longer reports this; next: ")
    assert "invalid bpf_context access" in proof.detail


def test_without_verification_nothing_is_proven(kernel: None) -> None:
    analysis, error, line = _rejected()
    fix = _insert(error, line, CHECK, "Return early when `n` is NULL")
    proof = prove(analysis, fix, Settings(verify=False))
    assert not proof.holds
    assert proof.detail == (
        "the fixed program was not verified: verification is turned off in the settings"
    )
