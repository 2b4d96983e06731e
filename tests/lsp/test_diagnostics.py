"""Columns: clang and BTF count UTF-8 bytes from 1, LSP clients count UTF-16 units from 0."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from kptr_lsp.findings import Finding, Location, Severity, Source
from kptr_lsp.lsp.diagnostics import to_diagnostic, to_range

LINE = '\tbpf_printk("é😀 %d", undeclared);'


def test_byte_column_becomes_utf16_units_and_covers_the_token() -> None:
    byte_col = LINE.encode().index(b"undeclared") + 1
    rng = to_range(Location("/x.c", 1, byte_col), [LINE], PositionCodec(), whole_line=False)
    start = LINE.index("undeclared")
    # é is one UTF-16 unit, the emoji two: one more than Python's character count.
    assert rng.start == types.Position(0, start + 1)
    assert rng.end == types.Position(0, start + 1 + len("undeclared"))


def test_verifier_findings_cover_the_statement_not_the_indent() -> None:
    f = Finding(Location("/x.c", 2, 5), Severity.ERROR, Source.VERIFIER, "R0 invalid mem access")
    diag = to_diagnostic(f, lambda _path: ["", "\t\t*value += 1;"], PositionCodec())
    assert diag.range.start == types.Position(1, 2)
    assert diag.range.end == types.Position(1, len("\t\t*value += 1;"))
    assert diag.source == "verifier"
    assert diag.severity == types.DiagnosticSeverity.Error


def test_unknown_file_still_gives_a_valid_range() -> None:
    rng = to_range(Location("/gone.c", 7, 3), None, PositionCodec(), whole_line=False)
    assert rng.start.line == 6 and rng.end.character >= rng.start.character
