"""Hovering a kptr field's declaration tells what the kernel makes of it (real client)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, hover_on

PROGRAMS = Path(__file__).parent.parent / "programs"
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(
    config=SERVER,
    scope="module",
)
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(capabilities=client_capabilities("neovim"))
    )
    yield
    await lsp_client.shutdown_session()


async def test_referenced_kptr_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "__kptr *task")
    assert "referenced kptr to struct task_struct" in text
    assert "Offset 0 in the value of map" in text
    assert "bpf_kptr_xchg" in text and "bpf_task_release" in text


async def test_unreferenced_kptr_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_untrusted_ok.bpf.c", "last_task")
    assert "unreferenced kptr to struct task_struct" in text
    assert "may be NULL" in text


async def test_badly_tagged_field_says_it_is_not_a_kptr(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "tags/unknown_tag.bpf.c", "*task")
    assert "not a kptr" in text
    assert "kptr_ref" in text


async def test_program_local_object_field(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/obj_new_ok.bpf.c", "__kptr *c")
    assert "program-local type (bpf_obj_new)" in text
    assert "bpf_obj_drop()" in text


async def test_no_hover_on_ordinary_lines(client: LanguageClient) -> None:
    with pytest.raises(AssertionError, match="no hover"):
        await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "char LICENSE[]", settle_s=1)
