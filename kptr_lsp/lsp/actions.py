"""Quick fixes (kptr_lsp.fixes) as LSP code actions on the verifier diagnostics they fix."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis import Analysis
from ..features.fixes import Edit, Fix, fixes_for
from ..findings import Source


def _position(lines: list[str], line: int, col: int, codec: PositionCodec) -> types.Position:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return types.Position(line - 1, int(codec.client_num_units(text[:col])))


def _text_edit(lines: list[str], e: Edit, codec: PositionCodec) -> types.TextEdit:
    start = _position(lines, e.line, e.col, codec)
    end = _position(lines, e.end_line, e.end_col, codec)
    return types.TextEdit(types.Range(start, end), e.text)


def _matches(fix: Fix, diagnostic: types.Diagnostic) -> bool:
    return diagnostic.source == str(Source.VERIFIER) and (
        diagnostic.range.start.line == fix.finding.line - 1
    )


def code_actions(
    analysis: Analysis,
    uri: str,
    request_range: types.Range,
    context: types.CodeActionContext,
    codec: PositionCodec,
) -> list[types.CodeAction]:
    """Fixes for the verifier findings on the requested lines, each tied to its diagnostic."""
    if context.only and not any(
        types.CodeActionKind.QuickFix.value.startswith(k) for k in context.only
    ):
        return []
    lines = analysis.text.split("\n")
    first, last = request_range.start.line + 1, request_range.end.line + 1
    actions: list[types.CodeAction] = []
    for finding in analysis.findings:
        if not first <= finding.line <= last:
            continue
        for fix in fixes_for(analysis, finding):
            edits = [_text_edit(lines, e, codec) for e in fix.edits]
            diagnostics = [d for d in context.diagnostics if _matches(fix, d)]
            actions.append(
                types.CodeAction(
                    title=fix.title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=diagnostics or None,
                    is_preferred=len(actions) == 0,
                    edit=types.WorkspaceEdit(changes={uri: edits}),
                )
            )
    return actions
