"""Hovers on a real client: verifier state on any program line, types on identifiers."""

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


async def test_state_hover_on_a_line_after_an_acquire(client: LanguageClient, kernel: None) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "if (!acquired)")
    assert "**Verifier state** on entry to line 31 in program `stash_child`" in text
    assert "`r0`: task_struct * — may be NULL" in text
    assert "(acquired line 30)" in text


async def test_state_hover_on_the_failing_line_of_a_rejected_program(
    client: LanguageClient, kernel: None
) -> None:
    path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
    text = await hover_on(client, path, "*count += 1")
    assert "`r0`: pointer into a value of map `syscalls_per_pi` (8 bytes) — may be NULL" in text


async def test_state_hover_counts_the_paths(client: LanguageClient, kernel: None) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "int BPF_PROG(stash_child")
    assert "distinct states" in text and "State 1:" in text


async def test_struct_hover_with_offsets_and_kptr(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "struct slot empty", 8)
    assert "**`struct slot`** — 8 bytes, 1 members (program type" in text
    assert "| 0 | 8 | `task` | `struct task_struct *` — **referenced kptr** |" in text


async def test_kernel_struct_hover(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "struct task_struct *acquired")
    assert "**`struct task_struct`**" in text and "kernel type, from the kernel's BTF" in text
    assert "more members" in text


async def test_map_hover(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "newest_child, &key, &empty")
    assert "**map `newest_child`**: hash · int → struct slot · 1,024 entries" in text
    assert "referenced kptr" in text


async def test_kfunc_hover_says_it_acquires(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "bpf_task_acquire(task)")
    assert "struct task_struct *bpf_task_acquire(struct task_struct *p)" in text
    assert "**Acquires a reference**" in text and "`bpf_task_release()`" in text


async def test_kfunc_hover_says_it_releases(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "bpf_task_release(old)")
    assert "void bpf_task_release(struct task_struct *p)" in text
    assert "**Releases the reference**" in text


async def test_helper_hover(client: LanguageClient) -> None:
    text = await hover_on(client, PROGRAMS / "clean/kptr_ok.bpf.c", "bpf_map_lookup_elem")
    assert "**helper**" in text
    assert "void *bpf_map_lookup_elem(void *map, const void *key)" in text
    assert "Perform a lookup in *map*" in text
