"""An edit to a project header, on a real client: two open programs that include it (vmlinux.h
two headers down) are both analysed again when the header is saved, and a stale preamble PCH is
never what answers."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, close, open_and_wait

CHAIN = Path(__file__).parent.parent / "programs" / "projects" / "header_chain"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("tools")
    shutil.copytree(CHAIN, ws, dirs_exist_ok=True)
    return ws


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, workspace: Path) -> None:
    answer_refreshes(lsp_client)
    capabilities = client_capabilities("neovim")
    if capabilities.workspace is not None:  # this client answers no refresh requests
        capabilities.workspace.inlay_hint = None
        capabilities.workspace.code_lens = None
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=workspace.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


def errors(client: LanguageClient, path: Path) -> list[str]:
    return [
        d.message
        for d in client.diagnostics.get(path.as_uri(), [])
        if d.severity == types.DiagnosticSeverity.Error
    ]


async def until(check: object, timeout_s: float = 120) -> None:
    async def poll() -> None:
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout_s)


async def test_saving_a_header_reanalyses_both_files_that_include_it(
    client: LanguageClient, kernel: None, workspace: Path
) -> None:
    clean, rejected = workspace / "execsnoop.bpf.c", workspace / "exec_count_unchecked.bpf.c"
    common = workspace / "common.h"
    assert errors(client, clean) == [] and await open_and_wait(client, clean) == []
    first = await open_and_wait(client, rejected)
    assert [d.message.splitlines()[0] for d in first if d.severity == 1] == [
        "R0 invalid mem access 'map_value_or_null'"
    ]
    original = common.read_text()

    def save(text: str) -> None:
        common.write_text(text)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(common.as_uri()))
        )

    try:
        # The header breaks: both programs say so, though neither buffer changed.
        save(original.replace("u64 exec_count;", "u64 exec_count"))

        def broken(path: Path) -> bool:
            return any("expected ';'" in m for m in errors(client, path))

        await until(lambda: broken(clean) and broken(rejected))
        # Fixed again: back to the kernel's verdicts (the rebuilt preamble is shared).
        save(original)
        await until(lambda: not errors(client, clean))
        await until(lambda: ["map_value_or_null" in m for m in errors(client, rejected)] == [True])
    finally:
        common.write_text(original)
        close(client, clean)
        close(client, rejected)
