"""Per-line verifier cost (features/cost_hints.py) as LSP inlay hints, after each line."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis import Analysis
from ..features.cost_hints import CostHint, inlay_hints


def to_inlay_hints(
    hints: list[CostHint], lines: list[str], within: types.Range, codec: PositionCodec
) -> list[types.InlayHint]:
    """Hints on the lines of `within` (0-based, as the client asked), each placed at the end
    of its line in the client's position units."""
    out: list[types.InlayHint] = []
    for hint in hints:
        row = hint.line - 1
        if not within.start.line <= row <= within.end.line or row >= len(lines):
            continue
        text = lines[row].rstrip("\r\n")
        out.append(
            types.InlayHint(
                position=types.Position(row, int(codec.client_num_units(text))),
                label=hint.label,
                padding_left=True,
                tooltip=types.MarkupContent(types.MarkupKind.Markdown, hint.tooltip),
            )
        )
    return out


def inlay_hints_for(
    analysis: Analysis, min_insns: int, lines: list[str], within: types.Range, codec: PositionCodec
) -> tuple[list[types.InlayHint], bool]:
    """The hints, and whether a program's cost became known meanwhile (its code lens then
    has a hottest line to show). Blocking: the first call of an analysis loads its programs
    again at log level 2."""
    before = analysis.verbose.taken() if analysis.verbose is not None else ()
    hints = inlay_hints(analysis, min_insns)
    after = analysis.verbose.taken() if analysis.verbose is not None else ()
    return to_inlay_hints(hints, lines, within, codec), after != before
