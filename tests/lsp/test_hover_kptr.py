"""Hovering a kptr field's declaration tells what the kernel makes of it (real client)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER

PROGRAMS = Path(__file__).parent.parent / "programs"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    config=SERVER,
    scope="module",
)
async def client(lsp_client: LanguageClient) -> None:
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    yield
    await lsp_client.shutdown_session()


async def hover_on(client: LanguageClient, path: Path, needle: str) -> str:
    """Open the file, wait for its analysis, hover on the line holding `needle`."""
    uri = path.as_uri()
    text = path.read_text()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, text))
    )

    async def analysed() -> None:
        while uri not in client.diagnostics:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(analysed(), 120)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines) if needle in t)
    result = await client.text_document_hover_async(
        types.HoverParams(
            types.TextDocumentIdentifier(uri), types.Position(line, lines[line].index(needle))
        )
    )
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    assert result is not None, f"no hover on {needle!r}"
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def test_referenced_kptr_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "__kptr *task")
    assert "referenced kptr to struct task_struct" in text
    assert "Offset 0 in the value of map" in text
    assert "bpf_kptr_xchg" in text and "bpf_task_release" in text


async def test_unreferenced_kptr_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_untrusted_ok.bpf.c", "last_task")
    assert "unreferenced kptr to struct task_struct" in text
    assert "may be NULL" in text


async def test_badly_tagged_field_says_it_is_not_a_kptr(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "tags/unknown_tag.bpf.c", "*task")
    assert "not a kptr" in text
    assert "kptr_ref" in text


async def test_program_local_object_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/obj_new_ok.bpf.c", "__kptr *c")
    assert "program-local type (bpf_obj_new)" in text
    assert "bpf_obj_drop()" in text


async def test_no_hover_on_ordinary_lines(client: LanguageClient) -> None:
    with pytest.raises(AssertionError, match="no hover"):
        await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "char LICENSE[]")
