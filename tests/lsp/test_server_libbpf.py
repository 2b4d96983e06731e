"""End to end: the server says which libbpf loads programs (its log at start, the hover on an
`#include <bpf/…>` line), compiles a project without a vendored libbpf against the current
libbpf's headers, and falls back to the system's libbpf with a warning when the current one
was never fetched."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from kptr_lsp.toolchain import debian
from tests.lsp.harness import answer_refreshes, hover_on, open_and_wait

PROJECT = Path(__file__).parent.parent / "programs" / "projects" / "current_libbpf"
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _start(env: dict[str, str]) -> LanguageClient:
    client = make_test_lsp_client()
    answer_refreshes(client)
    await client.start_io(sys.executable, "-m", "kptr_lsp", env=env)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=PROJECT.as_uri(),
            initialization_options={"diagnosticsOnChange": False},
        )
    )
    return client


async def _stop(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()  # type: ignore[no-untyped-call]


async def _log_lines(client: LanguageClient, needle: str) -> list[types.LogMessageParams]:
    """The server's window/logMessage notifications that mention `needle` (waits briefly:
    they follow the initialize response)."""
    for _ in range(100):
        found = [m for m in client.log_messages if needle in m.message]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def current_client() -> AsyncIterator[LanguageClient]:
    tree = debian.libbpf_tree()
    if tree is None:
        pytest.fail("the current libbpf is not in the cache: run `make setup`")
    client = await _start(dict(os.environ))
    yield client
    await _stop(client)


async def test_the_server_log_names_the_current_libbpf(current_client: LanguageClient) -> None:
    tree = debian.libbpf_tree()
    assert tree is not None
    (line,) = await _log_lines(current_client, "from bookworm-backports")
    assert line.type == types.MessageType.Info
    assert f"libbpf {tree.version} from bookworm-backports" in line.message


async def test_a_project_without_vendored_libbpf_builds_with_the_current_headers(
    current_client: LanguageClient, kernel: None
) -> None:
    path = PROJECT / "ksyscall_uprobe.bpf.c"
    diagnostics = await open_and_wait(current_client, path)
    # BPF_KSYSCALL, BPF_UPROBE and bpf_ksym_exists: clang errors with the system's 1.1 headers.
    assert [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error] == []
    text = await hover_on(current_client, path, "<bpf/bpf_tracing.h>", offset=1)
    tree = debian.libbpf_tree()
    assert tree is not None
    assert str(tree.include / "bpf" / "bpf_tracing.h") in text
    assert "current libbpf's headers" in text
    assert f"Programs load through libbpf {tree.version} from bookworm-backports" in text


async def test_without_the_current_libbpf_the_server_warns_and_uses_the_systems(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("fresh-home")
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    client = await _start(env)
    try:
        warnings = await _log_lines(client, "is not in the cache")
        assert [w.type for w in warnings] == [types.MessageType.Warning]
        assert "run `make setup`" in warnings[0].message
        (info,) = await _log_lines(client, "from the system")
        assert info.type == types.MessageType.Info
        assert info.message.startswith("kptr-lsp: libbpf 1.")
    finally:
        await _stop(client)
