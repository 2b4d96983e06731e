"""Findings → LSP diagnostics: 1-based byte columns become 0-based client units (UTF-16
unless the client negotiated otherwise), and a point becomes a range the eye can find."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pygls.workspace.position_codec import PositionCodec

from ..findings import Finding, Location, Source
from ..verify.explanations import docs_url

LineSource = Callable[[str], list[str] | None]  # path → lines of its current text
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")


def uri_of(path: str) -> str:
    return from_fs_path(path) or Path(path).as_uri()


def to_range(
    loc: Location, lines: list[str] | None, codec: PositionCodec, whole_line: bool
) -> types.Range:
    line = max(loc.line - 1, 0)
    text = lines[line] if lines is not None and line < len(lines) else ""
    text = text.rstrip("\r\n")

    def units(byte_col: int) -> int:
        # Columns from clang and BTF count bytes of UTF-8; the client counts its own units.
        prefix = text.encode()[: max(byte_col, 0)].decode("utf-8", "replace")
        return int(codec.client_num_units(prefix))

    if whole_line or loc.col <= 0:
        start = len(text) - len(text.lstrip())
        return types.Range(
            types.Position(line, units(len(text[:start].encode()))),
            types.Position(line, units(len(text.encode()))),
        )
    start_b = loc.col - 1
    if loc.end_line is not None and loc.end_col is not None and loc.end_line == loc.line:
        end_b = max(loc.end_col - 1, start_b + 1)
    else:
        m = _TOKEN.match(text.encode()[start_b:].decode("utf-8", "replace"))
        end_b = start_b + (len(m.group(0).encode()) if m else 1)
    return types.Range(types.Position(line, units(start_b)), types.Position(line, units(end_b)))


def to_diagnostic(f: Finding, lines: LineSource, codec: PositionCodec) -> types.Diagnostic:
    whole = f.source is Source.VERIFIER
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri=uri_of(r.location.file),
                range=to_range(r.location, lines(r.location.file), codec, whole_line=True),
            ),
            message=r.message,
        )
        for r in f.related
    ]
    message = f.message
    if f.explanation:
        message = f"{message}\n\n{f.explanation}"
    description = (
        types.CodeDescription(href=docs_url(f.explanation_id)) if f.explanation_id else None
    )
    return types.Diagnostic(
        range=to_range(f.location, lines(f.location.file), codec, whole),
        message=message,
        severity=types.DiagnosticSeverity(int(f.severity)),
        source=str(f.source),
        code=f.code,
        code_description=description,
        related_information=related or None,
    )


def by_uri(
    findings: Iterable[Finding], lines: LineSource, codec: PositionCodec
) -> dict[str, list[types.Diagnostic]]:
    out: dict[str, list[types.Diagnostic]] = {}
    for f in findings:
        out.setdefault(uri_of(f.location.file), []).append(to_diagnostic(f, lines, codec))
    return out
