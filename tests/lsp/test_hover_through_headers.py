"""Type hovers in files that reach vmlinux.h only through the project's headers, on a real
client: kernel types come from the kernel's BTF, the project's own structs (declared in one of
its headers) are program types. The diagnostics of these programs are checked with every other
program's by test_server_e2e.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, hover_on

PROGRAMS = Path(__file__).parent.parent / "programs"
PROJECTS = PROGRAMS / "projects"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client)
    capabilities = client_capabilities("neovim")
    if capabilities.workspace is not None:  # this client answers no refresh requests
        capabilities.workspace.inlay_hint = None
        capabilities.workspace.code_lens = None
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=PROGRAMS.as_uri())
    )
    yield
    await lsp_client.shutdown_session()


@pytest.mark.parametrize(
    "path",
    [
        PROJECTS / "header_chain" / "execsnoop.bpf.c",  # "vmlinux.h" two headers deep
        PROJECTS / "own_vmlinux" / "execwatch.bpf.c",  # the project's own trimmed vmlinux.h
    ],
    ids=lambda p: p.parent.name,
)
async def test_kernel_struct_hover(client: LanguageClient, kernel: None, path: Path) -> None:
    text = await hover_on(client, path, "struct task_struct *p", 8)
    assert "**`struct task_struct`**" in text and "kernel type, from the kernel's BTF" in text
    assert "more members" in text  # the kernel's whole struct, not the trimmed copy


async def test_struct_from_a_project_header_is_a_program_type(
    client: LanguageClient, kernel: None
) -> None:
    # struct hist is declared in common.bpf.h (which includes <vmlinux.h>), not in the buffer
    text = await hover_on(client, PROJECTS / "angle_include" / "connlat.bpf.c", "struct hist *h", 8)
    assert "**`struct hist`** — 108 bytes, 1 members (program type" in text, text
