"""While typing, clang's parse errors appear without waiting for the compile and the verifier:
libclang reparses the unsaved buffer. Real client, real libclang, real clang and kernel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, change, next_publish

# Long enough that the full analysis of an edit cannot be what publishes within the test.
CHANGE_DELAY_MS = 60_000

GOOD = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;

	return ifindex ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
"""
TYPO = GOOD.replace("ctx->ingress_ifindex;", "ctx->ingress_ifindex")
TYPO_LINE = GOOD.splitlines().index("\t__u32 ifindex = ctx->ingress_ifindex;")  # 0-based


@pytest_lsp.fixture(
    config=SERVER,
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> None:
    answer_refreshes(lsp_client, besides=(types.WORKSPACE_CODE_LENS_REFRESH,))

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params: None) -> None:
        """VS Code re-fetches code lenses when asked; this test does not look at them."""

    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=tmp_path.as_uri(),
        initialization_options={"changeDelayMs": CHANGE_DELAY_MS},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_parse_error_shows_while_typing_and_clears_when_fixed(
    client: LanguageClient, kernel: None, tmp_path: Path
) -> None:
    path = tmp_path / "typing.bpf.c"
    path.write_text(GOOD)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, GOOD))
    )
    opened = await next_publish(client, uri)  # the full analysis of the opened file
    assert list(opened.diagnostics) == []

    # Drop a semicolon: clang's error arrives for this version, long before the idle delay.
    change(client, uri, 2, TYPO)
    typed = await next_publish(client, uri)
    assert typed.version == 2
    errors = [d for d in typed.diagnostics if d.severity == types.DiagnosticSeverity.Error]
    assert [(d.source, d.range.start.line) for d in errors] == [("clang", TYPO_LINE)]
    assert "expected ';'" in errors[0].message
    assert errors[0].range.start.character == len("\t__u32 ifindex = ctx->ingress_ifindex")

    # Put it back: the error goes away at once, too.
    change(client, uri, 3, GOOD)
    fixed = await next_publish(client, uri)
    assert fixed.version == 3
    assert list(fixed.diagnostics) == []

    # Saving runs the full analysis: the compile and the verifier agree that all is well.
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    saved = await next_publish(client, uri)
    assert saved.version == 3
    assert list(saved.diagnostics) == []


async def test_clean_edits_publish_nothing_until_the_analysis(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "quiet.bpf.c"
    path.write_text(GOOD)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, GOOD))
    )
    await next_publish(client, uri)
    # An edit that still parses: nothing new to say until the (long) idle delay.
    change(client, uri, 2, GOOD.replace("XDP_DROP", "XDP_ABORTED"))
    try:
        extra = await asyncio.wait_for(next_publish(client, uri), 5)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected publish while typing clean code: {extra}")
