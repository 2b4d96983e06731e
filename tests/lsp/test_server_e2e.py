"""End to end: a real LSP client (pytest-lsp) drives `kptr-lsp` over stdio; the server runs
real clang and loads every program into the running kernel's verifier."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.expectations import read_expectations
from tests.lsp.harness import SERVER, answer_refreshes, close, open_and_wait

PROGRAMS = Path(__file__).parent.parent / "programs"
EXAMPLES = PROGRAMS.parent.parent / "examples"
ALL_PROGRAMS = sorted(PROGRAMS.rglob("*.bpf.c")) + sorted(EXAMPLES.glob("*.bpf.c"))
# One server for the module: the tests must run on the fixture's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    config=SERVER,
    scope="module",
)
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client)
    params = types.InitializeParams(
        capabilities=client_capabilities("neovim"),
        root_uri=PROGRAMS.as_uri(),
        initialization_options={"diagnosticsOnChange": True, "changeDelayMs": 50},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


@pytest.mark.parametrize(
    "path", ALL_PROGRAMS, ids=lambda p: p.relative_to(PROGRAMS.parent.parent).as_posix()
)
async def test_program_diagnostics_land_on_the_annotated_lines(
    client: LanguageClient, kernel: None, path: Path
) -> None:
    expected = read_expectations(path)
    diagnostics = await open_and_wait(client, path)
    close(client, path)
    errors = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    if not expected.expects:
        assert errors == [], f"clean program got errors: {[d.message for d in errors]}"
        return
    for exp in expected.expects:
        hits = [
            d
            for d in diagnostics
            if d.range.start.line == exp.line - 1
            and exp.text in d.message
            and d.severity == exp.severity
        ]
        seen = [
            (d.range.start.line + 1, d.severity, d.message.splitlines()[0]) for d in diagnostics
        ]
        assert hits, f"line {exp.line}: expected {exp.text!r}; got {seen}"
    related_lines = {
        r.location.range.start.line + 1 for d in diagnostics for r in d.related_information or []
    }
    for line in expected.related_lines:
        assert line in related_lines, f"line {line} should be related information"
    # Every line with an Error is one the file announces: no stray errors elsewhere.
    expected_error_lines = {e.line for e in expected.expects if e.severity == 1}
    stray = [d for d in errors if d.range.start.line + 1 not in expected_error_lines]
    assert not stray, f"unexpected errors: {[(d.range.start.line + 1, d.message) for d in stray]}"
