"""Quick fixes (kptr_lsp.fixes) as LSP code actions on the verifier diagnostics they fix.

A fix is offered only once the kernel has accepted the program it produces (fix_proof.py).
That proof is a compile and a load, so with a client that resolves code actions lazily
(`codeAction/resolve` with `edit`) the list names the fixes not yet proven without their edit,
and the proof runs when the user picks one: the edit comes back if the kernel accepts, else
the action comes back disabled with the kernel's reason. A fix proven to fail is not listed.
Clients without resolve get only fixes proven before the reply.
"""

from __future__ import annotations

import hashlib
from typing import Any

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis import Analysis
from ..features.fix_proof import known, prove
from ..features.fixes import Edit, Fix, fixes_for
from ..findings import Finding, Source
from ..settings import GuestKernel, Settings


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


def _lines_of(finding: Finding) -> list[int]:
    """The lines a finding's fixes are offered on: its own, and each `fix here` point the
    causal path gives it (where the fix belongs, when that is another line)."""
    points = finding.fix_points  # verify/causal.py (issue 14 §3)
    return [finding.line, *(p.location.line for p in points if p.location.file == finding.file)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _workspace_edit(
    analysis: Analysis, uri: str, fix: Fix, codec: PositionCodec
) -> types.WorkspaceEdit:
    lines = analysis.text.split("\n")
    return types.WorkspaceEdit(changes={uri: [_text_edit(lines, e, codec) for e in fix.edits]})


def code_actions(
    analysis: Analysis,
    uri: str,
    request_range: types.Range,
    context: types.CodeActionContext,
    codec: PositionCodec,
    settings: Settings,
    root: str | None = None,
    *,
    lazy: bool = False,
    guest: GuestKernel | None = None,
) -> list[types.CodeAction]:
    """Fixes for the verifier findings on the requested lines, each tied to its diagnostic.
    `lazy`: the client resolves code actions; unproven fixes come without their edit."""
    if context.only and not any(
        types.CodeActionKind.QuickFix.value.startswith(k) for k in context.only
    ):
        return []
    first, last = request_range.start.line + 1, request_range.end.line + 1
    actions: list[types.CodeAction] = []
    for finding in analysis.findings:
        if not any(first <= line <= last for line in _lines_of(finding)):
            continue
        for fix in fixes_for(analysis, finding):
            proof = known(analysis, fix, settings, root, guest)
            if proof is None and not lazy:
                proof = prove(analysis, fix, settings, root, guest)
            if proof is not None and not proof.holds:
                continue
            diagnostics = [d for d in context.diagnostics if _matches(fix, d)]
            action = types.CodeAction(
                title=fix.title,
                kind=types.CodeActionKind.QuickFix,
                diagnostics=diagnostics or None,
                is_preferred=len(actions) == 0,
            )
            if proof is not None:
                action.edit = _workspace_edit(analysis, uri, fix, codec)
            else:
                action.data = {
                    "uri": uri,
                    "text": _digest(analysis.text),
                    "line": finding.line,
                    "message": finding.message.split("\n", 1)[0],
                    "title": fix.title,
                }
            actions.append(action)
    return actions


def _find(analysis: Analysis, data: dict[str, Any]) -> Fix | None:
    for finding in analysis.findings:
        if finding.line != data.get("line") or not _same_message(finding, data):
            continue
        for fix in fixes_for(analysis, finding):
            if fix.title == data.get("title"):
                return fix
    return None


def _same_message(finding: Finding, data: dict[str, Any]) -> bool:
    return finding.message.split("\n", 1)[0] == data.get("message")


def resolve_action(
    action: types.CodeAction,
    analysis: Analysis | None,
    codec: PositionCodec,
    settings: Settings,
    root: str | None = None,
    *,
    guest: GuestKernel | None = None,
) -> types.CodeAction:
    """The action with its edit once the kernel accepted the fix, else disabled with why."""
    data = action.data if isinstance(action.data, dict) else None
    if data is None or action.edit is not None:
        return action
    uri = str(data.get("uri"))
    if analysis is None or _digest(analysis.text) != data.get("text"):
        action.disabled = types.CodeActionDisabled(
            "the file changed since this fix was offered: ask for fixes again"
        )
        return action
    fix = _find(analysis, data)
    if fix is None:
        action.disabled = types.CodeActionDisabled("this fix no longer applies")
        return action
    proof = prove(analysis, fix, settings, root, guest)
    if proof.holds:
        action.edit = _workspace_edit(analysis, uri, fix, codec)
    else:
        action.disabled = types.CodeActionDisabled(proof.detail)
    return action
