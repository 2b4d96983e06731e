"""What every end-to-end test does with its real LSP client: start the server, open a file
and wait for its diagnostics, send edits, wait for the next publish, close."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "kptr_lsp"])
TIMEOUT_S = 120
REFRESHES = (types.WORKSPACE_INLAY_HINT_REFRESH, types.WORKSPACE_CODE_LENS_REFRESH)


def answer_refreshes(client: LanguageClient, *, besides: tuple[str, ...] = ()) -> None:
    """Answer the server's lens and inlay-hint refresh requests, as an editor whose capabilities
    announce them does (unanswered, pytest-lsp fails the test on JsonRpcMethodNotFound).
    `besides`: the refreshes the test handles itself, to count them."""
    for method in REFRESHES:
        if method not in besides:
            client.feature(method)(lambda _params: None)


async def open_and_wait(
    client: LanguageClient, path: Path, text: str | None = None
) -> list[types.Diagnostic]:
    """Open `path` (with `text`, else its contents on disk) and return its diagnostics."""
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(
                uri=uri, language_id="c", version=1, text=path.read_text() if text is None else text
            )
        )
    )

    async def poll() -> list[types.Diagnostic]:
        while uri not in client.diagnostics:
            await asyncio.sleep(0.05)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(poll(), TIMEOUT_S)


def close(client: LanguageClient, path: Path) -> None:
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=path.as_uri()))
    )


async def next_publish(
    client: LanguageClient, uri: str, timeout_s: float = TIMEOUT_S
) -> types.PublishDiagnosticsParams:
    """The next diagnostics published for `uri` (others' publishes are skipped)."""

    async def wait() -> types.PublishDiagnosticsParams:
        while True:
            params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if isinstance(params, types.PublishDiagnosticsParams) and params.uri == uri:
                return params

    return await asyncio.wait_for(wait(), timeout_s)


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    """Replace the whole buffer, as a client sends an edit."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def hover_on(
    client: LanguageClient, path: Path, needle: str, offset: int = 0, settle_s: float = 10
) -> str:
    """Open `path`, wait for its analysis, hover `offset` characters into the first `needle`
    and close it. The server answers nothing until the analysis of exactly this text is in,
    so an empty answer is asked again for up to `settle_s` seconds before the test fails."""
    text = path.read_text()
    await open_and_wait(client, path, text)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines) if needle in t)
    params = types.HoverParams(
        types.TextDocumentIdentifier(path.as_uri()),
        types.Position(line, lines[line].index(needle) + offset),
    )
    deadline = asyncio.get_running_loop().time() + settle_s
    try:
        while (result := await client.text_document_hover_async(params)) is None:
            assert asyncio.get_running_loop().time() < deadline, f"no hover on {needle!r}"
            await asyncio.sleep(0.1)
    finally:
        close(client, path)
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII sources: UTF-16 units are characters)."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))[::-1]:
        a = starts[e.range.start.line] + e.range.start.character
        b = starts[e.range.end.line] + e.range.end.character
        text = text[:a] + e.new_text + text[b:]
    return text
