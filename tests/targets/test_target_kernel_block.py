"""End to end: a real LSP client with Debian's 7.3 kernel as a target sees 7.3's own
explanation parsed (category, reason, suggestion; the causal path as related locations on
real source lines), and the running kernel and 7.3 agree where they reject the same program on
the same line with the same words. The server boots 7.3 once for the module."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.targets.kernels import label_of
from tests.expectations import read_expectations
from tests.lsp.harness import SERVER, answer_refreshes, close
from tests.targets.conftest import wait_vms_gone

REJECTED = Path(__file__).parent.parent / "programs" / "rejected"
RUNNING = label_of(os.uname().release)
TARGET = "debian-7.3"
BOOT_AND_VERIFY_S = 400  # the first request boots 7.3 in TCG on a shared 2-core machine
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient, debian73_image: Path) -> AsyncIterator[None]:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=REJECTED.as_uri(),
            initialization_options={
                "diagnosticsOnChange": False,
                "kernels": [{"name": TARGET, "image": str(debian73_image)}],
            },
        )
    )
    yield
    server = lsp_client._server  # pygls' handle on the server process
    assert server is not None
    await lsp_client.shutdown_session()
    # the server powers its VM off on shutdown
    assert await wait_vms_gone(server.pid) == [], "the server left its target VM running"


async def _errors(client: LanguageClient, path: Path) -> list[types.Diagnostic]:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, path.read_text()))
    )

    async def poll() -> list[types.Diagnostic]:
        while uri not in client.diagnostics:
            await asyncio.sleep(0.1)
        return list(client.diagnostics[uri])

    try:
        found = await asyncio.wait_for(poll(), BOOT_AND_VERIFY_S)
    finally:
        close(client, path)
    return [d for d in found if d.severity == types.DiagnosticSeverity.Error]


def _line_of(path: Path, needle: str) -> int:
    """0-based, as LSP counts."""
    return next(i for i, t in enumerate(path.read_text().splitlines()) if needle in t)


async def test_a_null_dereference_shows_73s_block_parsed_and_both_kernels_agree(
    client: LanguageClient, kernel: None
) -> None:
    path = REJECTED / "map_value_null_deref.bpf.c"
    (error,) = await _errors(client, path)
    assert error.range.start.line == read_expectations(path).expects[0].line - 1
    lines = error.message.splitlines()
    assert lines[0] == f"[{RUNNING}, {TARGET}] R0 invalid mem access 'map_value_or_null'"
    # 7.3's own block and kptr-lsp's reading of the running kernel's log name it alike.
    assert lines[1] == f"[{RUNNING}, {TARGET}] Register Type Safety: Invalid dereference"
    assert "Not reported by" not in error.message
    for pasted in ("Verification failed", "Reason:", "Causal path:", "Source context", ">>>"):
        assert pasted not in error.message
    assert f"[{TARGET}] The kernel's reason: R0 may be NULL here" in error.message
    assert f"[{TARGET}] The kernel's suggestion: Add a NULL check" in error.message
    (step,) = [r for r in error.related_information or [] if r.message.startswith(f"[{TARGET}]")]
    assert step.location.uri == path.as_uri()
    assert step.location.range.start.line == _line_of(path, "bpf_map_lookup_elem(")
    assert step.message.startswith(f"[{TARGET}] update: R0 changed from ")
    assert step.message.endswith("to nullable map value from syscalls_per_pi at offset 0")


async def test_a_leak_shows_where_the_reference_was_taken_and_the_branch_that_leaked(
    client: LanguageClient, kernel: None
) -> None:
    path = REJECTED / "kptr_xchg_leak.bpf.c"
    (error,) = await _errors(client, path)
    assert error.range.start.line == read_expectations(path).expects[0].line - 1
    assert error.message.startswith(f"[{RUNNING}, {TARGET}] Unreleased reference id=4")
    headline = f"\n[{RUNNING}, {TARGET}] Resource Lifetime Safety: Unreleased resource\n"
    assert headline in error.message
    assert "Not reported by" not in error.message
    steps = [
        (r.location.range.start.line, r.message)
        for r in error.related_information or []
        if r.message.startswith(f"[{TARGET}]")
    ]
    assert steps == [
        (_line_of(path, "bpf_kptr_xchg(&s->task"), f"[{TARGET}] acquired: owned resource (id=4)"),
        (
            _line_of(path, "if (old)"),
            f"[{TARGET}] branch: took the false branch of this conditional, goto not followed",
        ),
    ]
