"""Through a real LSP client: what this kernel lacks is Information and a lens that says so,
never an Error — a sched_ext scheduler on a kernel without sched_ext, an object that needs a
library linked in — while a kfunc the kernel lacks fails only the program that calls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.kernel.running import VMLINUX_BTF
from tests.expectations import read_expectations
from tests.lsp.harness import SERVER, answer_refreshes, close, open_and_wait

PROJECTS = Path(__file__).parent.parent / "programs" / "projects"
SCX = PROJECTS / "scx_minimal" / "minimal.bpf.c"
LINKED = PROJECTS / "linked" / "xdp_counter.bpf.c"
ONE_CALLER = PROJECTS / "missing_kfunc_one_caller.bpf.c"
KERNEL_BTF = Path(VMLINUX_BTF)
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"), root_uri=PROJECTS.as_uri()
        )
    )
    yield
    await lsp_client.shutdown_session()


async def lenses(client: LanguageClient, path: Path) -> dict[int, str]:
    found = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(path.as_uri()))
    )
    return {lens.range.start.line: lens.command.title for lens in found or [] if lens.command}


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines()) if needle in t)


async def test_a_scheduler_on_a_kernel_without_sched_ext(
    client: LanguageClient, kernel: None
) -> None:
    if b"\0sched_ext_ops\0" in KERNEL_BTF.read_bytes():
        pytest.skip("this kernel has sched_ext: the scheduler would be verified")
    diagnostics = await open_and_wait(client, SCX)
    titles = await lenses(client, SCX)
    close(client, SCX)
    assert [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error] == []
    (info,) = [d for d in diagnostics if d.code == "kernel-lacks"]
    assert info.severity == types.DiagnosticSeverity.Information
    assert info.range.start.line == read_expectations(SCX).expects[0].line - 1
    assert "no `struct sched_ext_ops` in its BTF" in info.message
    assert "__weak" not in info.message  # not the code's fault: no advice to change it
    assert sorted(titles) == [
        _line(SCX, f"BPF_STRUCT_OPS{kind}({name}")
        for kind, name in (
            ("", "minimal_select_cpu"),
            ("", "minimal_enqueue"),
            ("", "minimal_dispatch"),
            ("_SLEEPABLE", "minimal_init"),
        )
    ]
    assert set(titles.values()) == {
        "– not verifiable here: this kernel has no struct sched_ext_ops"
    }


async def test_an_object_needing_a_library_names_the_externs(
    client: LanguageClient, kernel: None
) -> None:
    diagnostics = await open_and_wait(client, LINKED)
    titles = await lenses(client, LINKED)
    close(client, LINKED)
    assert [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error] == []
    infos = {d.range.start.line: d.message for d in diagnostics if d.code == "needs-linking"}
    assert sorted(infos) == sorted(e.line - 1 for e in read_expectations(LINKED).expects)
    assert "`lib_count`" in infos[_line(LINKED, "extern int lib_count")]
    (title,) = titles.values()
    assert title.startswith("– not verified: it needs other BPF objects linked in first")
    assert "None" not in title
    # About this file, not the machine: no "run kptr-lsp with CAP_BPF" popup.
    assert not [m for m in client.messages if "not being checked" in m.message]


async def test_only_the_caller_of_a_missing_kfunc_is_rejected(
    client: LanguageClient, kernel: None
) -> None:
    diagnostics = await open_and_wait(client, ONE_CALLER)
    titles = await lenses(client, ONE_CALLER)
    close(client, ONE_CALLER)
    (error,) = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    assert error.range.start.line == _line(ONE_CALLER, "p = bpf_nonexistent_kfunc(task);")
    assert "'hold_new_task'" in error.message and "log_new_task" not in error.message
    assert titles[_line(ONE_CALLER, "BPF_PROG(log_new_task")].startswith("✓ ")
    assert titles[_line(ONE_CALLER, "BPF_PROG(hold_new_task")].startswith("✗ rejected")
