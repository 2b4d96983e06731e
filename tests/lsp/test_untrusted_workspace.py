"""Opening a hostile repository in an editor (a real LSP client): its compile_commands.json
asks clang to load its plugin and write files. Nothing runs, nothing is written, one
Information names the dropped flags, and the verifier's Error is on its line as usual."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.toolchain.compdb import FLAGS_DROPPED
from tests.expectations import read_expectations
from tests.lsp.harness import SERVER, TIMEOUT_S, answer_refreshes, close
from tests.toolchain.test_compdb_untrusted import REJECTED, make_hostile

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, set[str]]:
    project, marker, _ = make_hostile(tmp_path_factory.mktemp("untrusted"))
    return project, marker, {str(p) for p in project.parent.rglob("*")}


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, hostile: tuple[Path, Path, set[str]]) -> None:
    answer_refreshes(lsp_client)
    capabilities = client_capabilities("neovim")
    if capabilities.workspace is not None:  # this client answers no refresh requests
        capabilities.workspace.inlay_hint = None
        capabilities.workspace.code_lens = None
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=hostile[0].as_uri())
    )
    yield
    await lsp_client.shutdown_session()


async def test_opening_a_hostile_repository_runs_nothing(
    client: LanguageClient, kernel: None, hostile: tuple[Path, Path, set[str]]
) -> None:
    project, marker, before = hostile
    path = project / REJECTED.name
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="c", version=1, text=path.read_text())
        )
    )
    line = next(e.line for e in read_expectations(REJECTED).expects if e.severity == 1)

    def seen() -> list[types.Diagnostic]:
        return list(client.diagnostics.get(uri, []))

    async def both() -> None:  # the Information (clang's set) and the Error (verifier's)
        while not (
            any(d.code == FLAGS_DROPPED for d in seen())
            and any(d.severity == types.DiagnosticSeverity.Error for d in seen())
        ):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(both(), TIMEOUT_S)
    close(client, path)
    (info,) = [d for d in seen() if d.code == FLAGS_DROPPED]
    assert info.severity == types.DiagnosticSeverity.Information and info.range.start.line == 0
    assert "-fplugin=" in info.message and "-Xclang -load" in info.message
    errors = [d for d in seen() if d.severity == types.DiagnosticSeverity.Error]
    assert [d.range.start.line + 1 for d in errors] == [line]
    assert "Unreleased reference" in errors[0].message
    assert not marker.exists(), marker.read_text()
    assert {str(p) for p in project.parent.rglob("*")} == before  # nothing written
