"""Per-line verifier cost on a real client: inlay hints after the hot lines, the cost in the
hover with its change since the last save, and the hottest line in the code lens."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import (
    SERVER,
    TIMEOUT_S,
    answer_refreshes,
    close,
    next_publish,
    open_and_wait,
)

PROGRAMS = Path(__file__).parent.parent / "programs"
HOT_LOOP = PROGRAMS / "cost/hot_loop.bpf.c"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client, besides=(types.WORKSPACE_INLAY_HINT_REFRESH,))
    capabilities = client_capabilities("neovim")
    assert capabilities.workspace is not None
    capabilities.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(
        refresh_support=True
    )
    lsp_client.hint_refreshes = 0  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(params: None) -> None:
        lsp_client.hint_refreshes += 1  # type: ignore[attr-defined]

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities, initialization_options={"diagnosticsOnChange": False}
        )
    )
    yield
    await lsp_client.shutdown_session()


def _whole(uri: str, lines: list[str]) -> types.InlayHintParams:
    end = types.Position(len(lines), 0)
    return types.InlayHintParams(
        types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), end)
    )


async def _hints(client: LanguageClient, path: Path, lines: list[str]) -> list[types.InlayHint]:
    """The hints once the analysis of the text is in (the server answers null before)."""
    params = _whole(path.as_uri(), lines)

    async def ask() -> list[types.InlayHint]:
        while (hints := await client.text_document_inlay_hint_async(params)) is None:
            await asyncio.sleep(0.1)
        return list(hints)

    return await asyncio.wait_for(ask(), TIMEOUT_S)


def _by_line(hints: list[types.InlayHint]) -> dict[int, types.InlayHint]:
    return {h.position.line: h for h in hints}


def _hot_row(lines: list[str]) -> int:
    return next(i for i, t in enumerate(lines) if "/* HOT */" in t)


async def test_hints_sit_after_the_hot_lines_of_the_loop(
    client: LanguageClient, kernel: None
) -> None:
    text = HOT_LOOP.read_text()
    lines = text.splitlines()
    refreshes = client.hint_refreshes  # type: ignore[attr-defined]
    assert await open_and_wait(client, HOT_LOOP, text) == []
    hints = _by_line(await _hints(client, HOT_LOOP, lines))
    hot = _hot_row(lines)
    # The loop body and the loop's own line are over the default threshold; nothing else is.
    assert set(hints) == {hot, hot - 1}, hints
    hint = hints[hot]
    assert hint.position.character == len(lines[hot])  # at the end of the line
    assert isinstance(hint.label, str)
    m = re.fullmatch(r"×([\d,]+) · ([\d,]+) insns", hint.label)
    assert m, hint.label
    walked, insns = (int(g.replace(",", "")) for g in m.groups())
    assert walked >= 256 and insns >= 1000  # once per slot at least
    assert isinstance(hint.tooltip, types.MarkupContent)
    assert "`sum_slots`" in hint.tooltip.value and "instructions processed" in hint.tooltip.value
    # Asked to fetch hints again when the analysis arrived.
    assert client.hint_refreshes > refreshes  # type: ignore[attr-defined]

    # The hover says the same, and the lens names the hottest line.
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(HOT_LOOP.as_uri()), types.Position(hot, 4))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert f"**Verifier cost** of line {hot + 1} in `sum_slots`: {insns:,} instructions" in (
        hover.contents.value
    )
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(HOT_LOOP.as_uri()))
    )
    titles = [lens.command.title for lens in lenses or [] if lens.command is not None]
    assert any(re.search(rf"hottest: line {hot + 1}, \d+ % of processed insns", t) for t in titles)
    close(client, HOT_LOOP)


async def test_hover_shows_the_change_per_line_since_the_last_save(
    client: LanguageClient, kernel: None
) -> None:
    # Never written to disk: the server analyses the buffer; saving only says "saved".
    path = PROGRAMS / "cost" / "hot_loop_edited.bpf.c"
    text = HOT_LOOP.read_text()
    assert await open_and_wait(client, path, text) == []
    lines = text.splitlines()
    first = _by_line(await _hints(client, path, lines))[_hot_row(lines)]

    # Twice the slots, and a line inserted above the loop: the hot line moved down by one.
    edited = text.replace("#define MAX_SLOTS 256", "#define MAX_SLOTS 512").replace(
        "\t__u64 total = 0;\n", "\t__u64 total = 0;\n\t/* summed below */\n"
    )
    uri = path.as_uri()
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [types.TextDocumentContentChangeWholeDocument(text=edited)],
        )
    )
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    await next_publish(client, uri)
    new_lines = edited.splitlines()
    hot = _hot_row(new_lines)
    second = _by_line(await _hints(client, path, new_lines))[hot]
    assert isinstance(first.label, str) and isinstance(second.label, str)
    before, after = (
        int(h.split(" · ")[1].split()[0].replace(",", "")) for h in (first.label, second.label)
    )
    assert after > before
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(hot, 4))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert f"Since the last save: +{after - before:,} instructions." in hover.contents.value
    close(client, path)


async def test_hints_can_be_turned_off(client: LanguageClient, kernel: None) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"costHints": False})
    )
    text = HOT_LOOP.read_text()
    await open_and_wait(client, HOT_LOOP, text)
    params = _whole(HOT_LOOP.as_uri(), text.splitlines())
    await asyncio.sleep(1)  # the configuration change re-analyses the open file
    assert await client.text_document_inlay_hint_async(params) is None
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"costHints": True, "costHintMinInsns": 1})
    )
    hints = _by_line(await _hints(client, HOT_LOOP, text.splitlines()))
    assert len(hints) > 2  # a threshold of one instruction: every walked line
    close(client, HOT_LOOP)


async def test_a_walk_that_hit_the_jump_limit(client: LanguageClient, kernel: None) -> None:
    path = PROGRAMS / "catalogue/too_many_branches.bpf.c"
    text = path.read_text()
    lines = text.splitlines()
    branch = next(i for i, t in enumerate(lines) if "bpf_get_prandom_u32() & 1" in t)
    [error] = [d for d in await open_and_wait(client, path, text) if d.source == "verifier"]
    assert "The sequence of 8193 jumps is too complex." in error.message
    related = {r.location.range.start.line: r.message for r in error.related_information or []}
    assert "did not know" in related[branch] and "the loop" in related[branch - 1]
    # The hints come from the end of the walk that the kernel's log kept, and say so.
    hints = _by_line(await _hints(client, path, lines))
    assert branch in hints
    tooltip = hints[branch].tooltip
    assert isinstance(tooltip, types.MarkupContent)
    assert "before giving up" in tooltip.value
    close(client, path)
