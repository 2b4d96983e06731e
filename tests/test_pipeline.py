"""The whole analysis of one buffer, without LSP: what `check` and the server both publish."""

from __future__ import annotations

from pathlib import Path

from kptr_lsp.findings import Finding, Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from tests.expectations import read_expectations

TAGS = Path(__file__).parent / "programs" / "tags"


def _analyse(path: Path) -> list[Finding]:
    return list(analyse(str(path), path.read_text(), Settings()).findings)


def _field_line(path: Path) -> int:
    return next(e.line for e in read_expectations(path).expects if e.severity == 2)


def test_verifier_error_points_at_the_field_it_follows_from(kernel: None) -> None:
    path = TAGS / "not_struct.bpf.c"
    findings = _analyse(path)
    error = next(f for f in findings if f.code == "verifier")
    assert "has to have BTF in order to use bpf_kptr_xchg" in error.message
    assert _field_line(path) in [r.location.line for r in error.related]
    assert "because of field `bad`" in error.message
    btf = next(f for f in findings if f.code == "btf-rejected")
    assert btf.severity is Severity.WARNING
    assert _field_line(path) in [r.location.line for r in btf.related]


def test_map_created_without_btf_points_at_the_field(kernel: None) -> None:
    path = TAGS / "map_type.bpf.c"
    findings = _analyse(path)
    retry = next(f for f in findings if f.code == "map-without-btf")
    assert "Retrying without BTF" in retry.message
    assert _field_line(path) in [r.location.line for r in retry.related]


def test_dropped_field_explains_the_verifier_error(kernel: None) -> None:
    path = TAGS / "extra_tag.bpf.c"
    error = next(f for f in _analyse(path) if f.code == "verifier")
    assert "has no valid kptr" in error.message
    assert _field_line(path) in [r.location.line for r in error.related]


def test_checks_run_even_when_verification_is_off() -> None:
    path = TAGS / "unknown_tag.bpf.c"
    analysis = analyse(str(path), path.read_text(), Settings(verify=False))
    assert not analysis.verified
    assert analysis.not_verified_reason == "verification is turned off in the settings"
    assert [f.line for f in analysis.findings if f.code == "kptr-unknown-tag"] == [
        _field_line(path)
    ]
