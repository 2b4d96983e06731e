"""End to end: on a kernel without its own explanation block (this one), an editor gets the
causal path kptr-lsp derives from the verifier's log: the category after the classic line, the
reason and suggestion in the message, each step and the `fix here` point as related
information in order on real source lines (pytest-lsp client, real clang, real verifier)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, close, open_and_wait

CAUSAL = Path(__file__).resolve().parents[1] / "programs" / "projects" / "causal"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=CAUSAL.as_uri(),
            initialization_options={"diagnosticsOnChange": False},
        )
    )
    yield
    await lsp_client.shutdown_session()


def _line(path: Path, marker: str) -> int:
    """0-based, as LSP counts."""
    return next(i for i, t in enumerate(path.read_text().splitlines()) if marker in t)


async def test_the_null_check_of_the_other_lookup_is_a_related_fix_here(
    client: LanguageClient, kernel: None
) -> None:
    path = CAUSAL / "null_check_other_copy.bpf.c"
    diagnostics = await open_and_wait(client, path)
    close(client, path)
    (error,) = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    lines = error.message.splitlines()
    assert lines[0] == "R6 invalid mem access 'map_value_or_null'"
    assert lines[1] == "Register Type Safety: Invalid dereference"
    assert "Why: " in error.message and "Suggestion: " in error.message
    related = [
        (r.location.range.start.line, r.message.split(":", 1)[0])
        for r in error.related_information or []
        if r.location.uri == path.as_uri()
    ]
    lookup, check = _line(path, "f = bpf_map_lookup_elem"), _line(path, "RELATED: wrong copy")
    assert related == [
        (lookup, "update"),
        (lookup, "update"),
        (check, "branch"),
        (check, "fix here"),
    ]
