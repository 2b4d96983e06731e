"""Quick fixes through a real client: the WorkspaceEdit, applied, makes the kernel accept.

Neovim's capabilities resolve code actions (`edit`): the server lists a fix not yet proven
without its edit, and `codeAction/resolve` proves it in the kernel and returns the edit. A
client without resolve gets only fixes the kernel already accepted."""

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
FIXES = Path(__file__).parent.parent / "programs" / "fixes"
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
    """Open the file and ask for fixes on its verifier error once the server has analysed it;
    each listed without its edit is resolved (proven by the kernel) while the file is open."""
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
                    return [
                        a if a.edit is not None else await client.code_action_resolve_async(a)
                        for a in actions
                        if isinstance(a, types.CodeAction)
                    ]
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


async def test_null_check_goes_on_the_kptr_not_on_the_checked_map_value(
    client: LanguageClient, kernel: None
) -> None:
    """`return v->task->pid;` after `if (!v) return 0;`: R1 is the kptr loaded from `v->task`.
    The one fix offered loads it into a local and checks that; the kernel accepts the result."""
    path = FIXES / "kptr_chain_null.bpf.c"
    uri, text = path.as_uri(), path.read_text()
    actions = await quick_fixes(client, uri, text)
    assert [a.title for a in actions] == [
        "Load `v->task` into `v_task` and return early when it is NULL"
    ]
    (action,) = actions
    assert action.disabled is None
    assert action.edit is not None and action.edit.changes is not None
    line = next(n for n, src in enumerate(text.split("\n")) if "return v->task->pid" in src)
    assert [
        (e.range.start.line, e.range.start.character, e.new_text) for e in action.edit.changes[uri]
    ] == [
        (line, 0, "\tstruct task_struct *v_task = v->task;\n\tif (!v_task)\n\t\treturn 0;\n"),
        (line, 8, "v_task"),
    ]
    fixed = apply(text, list(action.edit.changes[uri]))
    assert "\treturn v_task->pid;" in fixed
    after = analyse(str(path), fixed, Settings())
    assert after.verified
    assert [f.message for f in after.findings if f.severity is Severity.ERROR] == []


@pytest_lsp.fixture(config=SERVER, scope="module")
async def eager_client(lsp_client: LanguageClient) -> None:
    """An editor that does not resolve code actions: it needs each edit in the list."""
    answer_refreshes(lsp_client)
    capabilities = client_capabilities("neovim")
    assert capabilities.text_document and capabilities.text_document.code_action
    capabilities.text_document.code_action.resolve_support = None
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities))
    yield
    await lsp_client.shutdown_session()


async def test_without_resolve_only_proven_fixes_are_listed_with_their_edit(
    eager_client: LanguageClient, kernel: None
) -> None:
    path = FIXES / "task_acquire_leak.bpf.c"
    uri, text = path.as_uri(), path.read_text()
    (action,) = await quick_fixes(eager_client, uri, text)
    assert action.title == "Release `parent` with bpf_task_release() before this return"
    assert action.data is None and action.edit is not None and action.edit.changes is not None
    fixed = apply(text, list(action.edit.changes[uri]))
    after = analyse(str(path), fixed, Settings())
    assert after.verified
    assert [f.message for f in after.findings if f.severity is Severity.ERROR] == []
