"""The analysed model carries its derived views, computed once: the features read the verifier
logs placement already parsed, and the checks' context is built once per analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kptr_lsp import model
from kptr_lsp.checks import Context
from kptr_lsp.features.fixes import fixes_for
from kptr_lsp.features.hover.fields import kptr_field_hover
from kptr_lsp.features.lenses import insn_counts, program_lenses
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from kptr_lsp.verify import loader

PROGRAMS = Path(__file__).parent / "programs"


def test_features_read_the_logs_placement_parsed(
    kernel: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = PROGRAMS / "rejected" / "two_programs_one_bad.bpf.c"
    calls: list[str] = []
    parse = loader.parse_log

    def counting(text: str) -> loader.VerifierLog:
        calls.append(text)
        return parse(text)

    monkeypatch.setattr(loader, "parse_log", counting)
    analysis = analyse(str(path), path.read_text(), Settings())
    assert analysis.rejected and len(analysis.programs) == 2
    assert len(calls) <= len(analysis.programs)  # placement parsed the rejected one's log

    for _ in range(2):  # the lenses, the save history's counts and the fixes, twice over
        program_lenses(analysis)
        insn_counts(analysis)
        for finding in analysis.findings:
            fixes_for(analysis, finding)
    # Each program's log parsed at most once in all, whoever asked first (a result the verify
    # cache kept from an earlier analysis of the same object comes parsed already).
    assert len(calls) == len(set(calls)) <= len(analysis.programs)
    assert all("parsed_log" in vars(p) for p in analysis.programs)


def test_checks_context_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks, their culprits, the field hover and the fixes read one context."""
    path = PROGRAMS / "clean" / "kptr_ok.bpf.c"
    built: list[str] = []
    build = model.build_context

    def counting(*args: Any) -> Context:
        built.append(args[-1])
        return build(*args)

    monkeypatch.setattr(model, "build_context", counting)
    analysis = analyse(str(path), path.read_text(), Settings(verify=False))
    assert built == [str(path)]  # the checks and the culprits shared it
    first = analysis.checks_context
    assert first is not None and first.values
    for line in range(1, len(analysis.text.splitlines()) + 1):
        kptr_field_hover(analysis, line, 0)
    for finding in analysis.findings:
        fixes_for(analysis, finding)
    assert analysis.checks_context is first and len(built) == 1
