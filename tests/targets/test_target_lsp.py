"""End to end: a real LSP client configures Debian's 6.1 kernel as a target in one setting and
sees its verdict beside the running kernel's, in diagnostics and code lenses."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.kernels import ReadyKernel, label_of
from tests.lsp.harness import SERVER, answer_refreshes, close, open_and_wait
from tests.targets.conftest import PACKAGE, wait_vms_gone

PROGRAMS = Path(__file__).parent.parent / "programs"
KPTR_XCHG = PROGRAMS / "clean" / "kptr_ok.bpf.c"
RUNNING = label_of(os.uname().release)
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient, debian61: GuestKernel) -> AsyncIterator[None]:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=PROGRAMS.as_uri(),
            initialization_options={"diagnosticsOnChange": False, "kernels": [PACKAGE]},
        )
    )
    yield
    server = lsp_client._server  # pygls' handle on the server process
    assert server is not None
    await lsp_client.shutdown_session()
    # the server powers its VM off on shutdown
    assert await wait_vms_gone(server.pid) == [], "the server left its target VM running"


async def test_editor_shows_each_kernels_verdict(
    client: LanguageClient, kernel: None, debian61_ready: ReadyKernel
) -> None:
    target = debian61_ready.label
    diagnostics = await open_and_wait(client, KPTR_XCHG)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(KPTR_XCHG.as_uri()))
    )
    close(client, KPTR_XCHG)

    lines = KPTR_XCHG.read_text().splitlines()
    acquire = next(i for i, t in enumerate(lines) if "bpf_task_acquire(task)" in t)
    releases = [i for i, t in enumerate(lines) if "bpf_task_release(old)" in t]
    errors = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    missing = "': not found in kernel or module BTFs"
    # 6.1 lacks both 6.2 kfuncs: an Error on each call, naming only the program making it.
    assert sorted((d.range.start.line, d.message.splitlines()[0]) for d in errors) == [
        (acquire, f"[{target}] extern (func ksym) 'bpf_task_acquire{missing}"),
        (releases[0], f"[{target}] extern (func ksym) 'bpf_task_release{missing}"),
        (releases[1], f"[{target}] extern (func ksym) 'bpf_task_release{missing}"),
    ]
    assert all(f"Not reported by {RUNNING}." in d.message for d in errors)

    titles = [lens.command.title for lens in lenses or [] if lens.command is not None]
    assert len(titles) == 2
    assert all(t.startswith("✓ ") and t.endswith(f" · {target} ✗ rejected") for t in titles)
