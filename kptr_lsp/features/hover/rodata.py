"""Hover on a `const volatile` global: the value the verifier was given for it."""

from __future__ import annotations

from ...analysis import Analysis


def rodata_hover(analysis: Analysis, line: int, character: int) -> str | None:
    """On a `const volatile` global's declaration: the value the verifier was given."""
    notes = [
        v.note()
        for v in analysis.rodata
        if v.location is not None and v.location.file == analysis.path and v.location.line == line
    ]
    return "\n\n".join(notes) or None
