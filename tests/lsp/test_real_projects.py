"""Real projects through a real LSP client: a workspace with a vendored libbpf and a
per-architecture vmlinux.h compiles with them (hover on the #include says which file), and the
`rodataOverrides` setting changes the kernel verifier's verdict on a rodata option."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.lsp.harness import close, open_and_wait
from tests.project_layouts import UPROBE_PROGRAM, libbpf_source_tree, per_arch_vmlinux

PROJECTS = Path(__file__).parent.parent / "programs" / "projects"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Session:
    client: LanguageClient
    workspace: Path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def session(
    tmp_path_factory: pytest.TempPathFactory, vmlinux_dir: Path
) -> AsyncIterator[Session]:
    """A libbpf-bootstrap-like workspace: libbpf/src submodule, x86/vmlinux.h, examples/c/.
    The server's cache (where the libbpf shim lives) is the test's own."""
    ws = tmp_path_factory.mktemp("project")
    libbpf_source_tree(ws)
    per_arch_vmlinux(ws, vmlinux_dir, "x86")
    (ws / "examples" / "c").mkdir(parents=True)
    (ws / "examples" / "c" / "uprobe.bpf.c").write_text(UPROBE_PROGRAM)
    shutil.copy(PROJECTS / "rodata_index.bpf.c", ws / "examples" / "c" / "rodata_index.bpf.c")
    cache = tmp_path_factory.mktemp("cache")
    client = make_test_lsp_client()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    await client.start_io(sys.executable, "-m", "kptr_lsp", env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=ws.as_uri(),
            initialization_options={"rodataOverrides": {"slot": 7}},
        )
    )
    yield Session(client, ws)
    await client.shutdown_session()
    await client.stop()


async def hover(client: LanguageClient, path: Path, needle: str) -> str:
    lines = path.read_text().splitlines()
    line = next(i for i, t in enumerate(lines) if needle in t)
    result = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(path.as_uri()), types.Position(line, 2))
    )
    assert result is not None, f"no hover on {needle!r}"
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def test_vendored_libbpf_and_arch_vmlinux_are_used(session: Session, kernel: None) -> None:
    path = session.workspace / "examples" / "c" / "uprobe.bpf.c"
    diagnostics = await open_and_wait(session.client, path)
    # BPF_UPROBE exists only in the vendored headers; with the system's this is a clang error.
    assert diagnostics == [], [d.message for d in diagnostics]
    tracing = await hover(session.client, path, "<bpf/bpf_tracing.h>")
    assert str(session.workspace / "libbpf" / "src" / "bpf_tracing.h") in tracing
    assert "vendored libbpf" in tracing
    vmlinux = await hover(session.client, path, '"vmlinux.h"')
    assert str(session.workspace / "x86" / "vmlinux.h") in vmlinux
    assert "project's own vmlinux.h" in vmlinux
    close(session.client, path)


async def test_rodata_override_changes_the_verdict(session: Session, kernel: None) -> None:
    path = session.workspace / "examples" / "c" / "rodata_index.bpf.c"
    diagnostics = await open_and_wait(session.client, path)
    errors = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    assert len(errors) == 1, [d.message for d in diagnostics]
    assert "invalid access to map value" in errors[0].message
    line = path.read_text().splitlines()[errors[0].range.start.line]
    assert "h->slots[slot] += 1;" in line
    note = await hover(session.client, path, "const volatile u32 slot")
    assert "`slot` = 7, from the `rodataOverrides` setting" in note
    close(session.client, path)
