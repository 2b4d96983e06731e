"""Code actions with lazy proof (lsp/actions.py) on a real rejected program: listed without an
edit until the kernel proved the fix, resolved into the edit, and refused for a stale file."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from kptr_lsp.lsp.actions import code_actions, resolve_action
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings

PROGRAM = Path(__file__).parents[1] / "programs" / "fixes" / "kptr_chain_null.bpf.c"
CODEC = PositionCodec()
TITLE = "Load `v->task` into `v_task` and return early when it is NULL"


def _request(line: int) -> tuple[types.Range, types.CodeActionContext]:
    where = types.Range(types.Position(line, 0), types.Position(line, 0))
    return where, types.CodeActionContext(diagnostics=[])


def test_lazy_actions_resolve_to_the_proven_edit_and_stale_ones_are_disabled(
    kernel: None,
) -> None:
    text = PROGRAM.read_text()
    uri = PROGRAM.as_uri()
    analysis = analyse(str(PROGRAM), text, Settings())
    line = next(n for n, src in enumerate(text.split("\n")) if "return v->task->pid" in src)
    where, context = _request(line)
    # Settings no other test uses: proofs are kept per settings, and this one must be the first.
    settings = Settings(log_level="debug")

    (listed,) = code_actions(analysis, uri, where, context, CODEC, settings, lazy=True)
    assert listed.title == TITLE and listed.edit is None and listed.data is not None

    # A stale file: the buffer changed since the list (one line added above).
    edited = analyse(str(PROGRAM), "\n" + text, Settings())
    stale = resolve_action(
        types.CodeAction(listed.title, data=listed.data), edited, CODEC, settings
    )
    assert stale.edit is None
    assert stale.disabled is not None and "the file changed" in stale.disabled.reason

    resolved = resolve_action(listed, analysis, CODEC, settings)
    assert resolved.disabled is None
    assert resolved.edit is not None and resolved.edit.changes is not None
    edits = resolved.edit.changes[uri]
    assert [e.new_text for e in edits][-1] == "v_task"

    # Proven once: the next list carries the edit itself.
    (again,) = code_actions(analysis, uri, where, context, CODEC, settings, lazy=True)
    assert again.edit == resolved.edit and again.data is None
