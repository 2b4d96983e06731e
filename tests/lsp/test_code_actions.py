"""Quick fixes through a real client: the WorkspaceEdit, applied, makes the kernel accept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.findings import Severity
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from tests.lsp.harness import SERVER, answer_refreshes, apply

PROGRAMS = Path(__file__).parent.parent / "programs" / "rejected"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    config=SERVER,
    scope="module",
)
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    yield
    await lsp_client.shutdown_session()


async def quick_fixes(client: LanguageClient, uri: str, text: str) -> list[types.CodeAction]:
    """Open the file and ask for fixes on its verifier error once the server has analysed it."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, text))
    )

    async def fixes() -> list[types.CodeAction]:
        while True:
            errors = [
                d
                for d in client.diagnostics.get(uri, [])
                if d.severity == types.DiagnosticSeverity.Error and d.source == "verifier"
            ]
            if errors:
                actions = await client.text_document_code_action_async(
                    types.CodeActionParams(
                        types.TextDocumentIdentifier(uri),
                        errors[0].range,
                        types.CodeActionContext(diagnostics=errors),
                    )
                )
                if actions:
                    assert all(isinstance(a, types.CodeAction) for a in actions)
                    return [a for a in actions if isinstance(a, types.CodeAction)]
            await asyncio.sleep(0.1)

    try:
        return await asyncio.wait_for(fixes(), 120)
    finally:
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
        )


@pytest.mark.parametrize(
    "name",
    [
        "map_value_null_deref",
        "obj_new_leak",
        "dynptr_ringbuf_not_submitted",
        "kptr_ref_direct_store",
    ],
)
async def test_quick_fix_is_accepted_by_the_verifier(
    client: LanguageClient, kernel: None, name: str
) -> None:
    path = PROGRAMS / f"{name}.bpf.c"
    uri, text = path.as_uri(), path.read_text()
    action = (await quick_fixes(client, uri, text))[0]
    assert action.kind == types.CodeActionKind.QuickFix and action.is_preferred
    assert action.diagnostics and action.diagnostics[0].source == "verifier"
    assert action.edit is not None and action.edit.changes is not None
    fixed = apply(text, list(action.edit.changes[uri]))
    # The edited buffer, verified again by the kernel: no error left.
    after = analyse(str(path), fixed, Settings())
    assert after.verified
    assert [f.message for f in after.findings if f.severity is Severity.ERROR] == []
