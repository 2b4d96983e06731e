"""Through a real LSP client: explanations under the kernel's words, code lenses with the
verifier's statistics and their change between saves, and the document outline."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.features.lenses import insn_counts
from kptr_lsp.pipeline import analyse
from kptr_lsp.settings import Settings
from tests.lsp.harness import SERVER, answer_refreshes

PROGRAMS = Path(__file__).parent.parent / "programs"
TIMEOUT_S = 120
pytestmark = pytest.mark.asyncio(loop_scope="module")

# A program whose instruction count grows with N: the verifier walks every iteration.
COUNTER = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int sum_random(struct xdp_md *ctx)
{
	__u32 acc = 0;

	for (int i = 0; i < N; i++)
		acc ^= bpf_get_prandom_u32();
	return acc & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest_lsp.fixture(
    config=SERVER,
    scope="module",
)
async def client(lsp_client: LanguageClient) -> None:
    answer_refreshes(lsp_client, besides=(types.WORKSPACE_CODE_LENS_REFRESH,))
    capabilities = client_capabilities("neovim")
    assert capabilities.workspace is not None
    capabilities.workspace.code_lens = types.CodeLensWorkspaceClientCapabilities(
        refresh_support=True
    )
    lsp_client.lens_refreshes = 0  # type: ignore[attr-defined]

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_refresh(params: None) -> None:
        lsp_client.lens_refreshes += 1  # type: ignore[attr-defined]

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=PROGRAMS.as_uri(),
            initialization_options={"diagnosticsOnChange": False},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def published(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    async def poll() -> list[types.Diagnostic]:
        while uri not in client.diagnostics:
            await asyncio.sleep(0.05)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(poll(), TIMEOUT_S)


async def open_doc(client: LanguageClient, path: Path, text: str) -> list[types.Diagnostic]:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, text))
    )
    return await published(client, uri)


def close_doc(client: LanguageClient, path: Path) -> None:
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(path.as_uri()))
    )


async def edit_and_save(
    client: LanguageClient, path: Path, version: int, text: str
) -> list[types.Diagnostic]:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    return await published(client, uri)


async def lens_titles(client: LanguageClient, path: Path) -> dict[int, str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(path.as_uri()))
    )
    out: dict[int, str] = {}
    for lens in lenses or []:
        assert lens.command is not None
        out[lens.range.start.line] = lens.command.title
    return out


async def test_code_lens_shows_the_instruction_count_change_between_saves(
    client: LanguageClient, kernel: None
) -> None:
    # Never written to disk: the server analyses the buffer, and saving only says "saved".
    path = PROGRAMS.parent / "lsp" / "lens_counter.bpf.c"
    prog_line = COUNTER.splitlines().index("int sum_random(struct xdp_md *ctx)")
    refreshes = client.lens_refreshes  # type: ignore[attr-defined]
    assert await open_doc(client, path, "#define N 4\n" + COUNTER) == []
    first = (await lens_titles(client, path))[prog_line + 1]
    m = re.fullmatch(r"✓ (\d+) insns · \d+ peak states? · \d+(\.\d)? (µs|ms) · stack \d+ B", first)
    assert m, first  # first version: nothing to compare with yet
    before = int(m.group(1))

    await edit_and_save(client, path, 2, "#define N 8\n" + COUNTER)
    second = (await lens_titles(client, path))[prog_line + 1]
    m = re.match(r"✓ (\d+) insns \(\+(\d+)\) ·", second)
    assert m, second
    after, delta = int(m.group(1)), int(m.group(2))
    assert after > before and delta == after - before

    # Back to fewer iterations: the change is negative, against the save before.
    await edit_and_save(client, path, 3, "#define N 4\n" + COUNTER)
    third = (await lens_titles(client, path))[prog_line + 1]
    assert third.startswith(f"✓ {before} insns (-{delta}) ·"), third
    # The client was asked to fetch lenses again each time new results arrived.
    assert client.lens_refreshes >= refreshes + 3  # type: ignore[attr-defined]

    # Clicking the lens tells the whole story.
    stats = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="kptr-lsp.programStats", arguments=[path.as_uri(), "sum_random"]
        )
    )
    assert f"{before:,} instructions processed (limit 1,000,000)" in stats
    assert f"-{delta} instructions since the previous save" in stats
    close_doc(client, path)


async def test_lenses_after_saves_back_to_back(client: LanguageClient, kernel: None) -> None:
    """Each save sent as soon as the previous one's diagnostics arrive, as `make bench`'s back
    to back series does: the lens walk of a superseded analysis waits, then stops (it held
    the GIL the next save's messages need), and the last save's lenses are right, with the
    change since the save before."""
    path = PROGRAMS.parent / "lsp" / "lens_burst.bpf.c"  # never written: the buffer is analysed
    prog_line = COUNTER.splitlines().index("int sum_random(struct xdp_md *ctx)") + 1
    texts = [f"#define N {n}\n" + COUNTER for n in (2, 3, 5, 9)]
    await open_doc(client, path, texts[0])
    for version, text in enumerate(texts[1:], start=2):
        await edit_and_save(client, path, version, text)
    last = (await lens_titles(client, path))[prog_line]
    close_doc(client, path)
    counts = [insn_counts(analyse(str(path), text, Settings()))["sum_random"] for text in texts]
    assert counts[-1] > counts[-2]
    assert last.startswith(f"✓ {counts[-1]} insns (+{counts[-1] - counts[-2]}) ·"), last


async def test_rejected_program_lens(client: LanguageClient, kernel: None) -> None:
    path = PROGRAMS / "rejected/two_programs_one_bad.bpf.c"
    text = path.read_text()
    await open_doc(client, path, text)
    titles = await lens_titles(client, path)
    close_doc(client, path)
    lines = text.splitlines()
    by_program = {
        name: titles[next(i for i, t in enumerate(lines) if f"int {name}(" in t)]
        for name in ("xdp_good", "xdp_bad")
    }
    assert by_program["xdp_good"].startswith("✓ ")
    assert by_program["xdp_bad"].startswith("✗ rejected · ")


async def test_diagnostic_explains_the_kernels_words_and_links_the_docs(
    client: LanguageClient, kernel: None
) -> None:
    path = PROGRAMS / "catalogue/packet_no_bounds_check.bpf.c"
    diagnostics = await open_doc(client, path, path.read_text())
    close_doc(client, path)
    (error,) = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    kernel_words, _, ours = error.message.partition("\n\n")
    assert kernel_words.startswith("invalid access to packet, off=12 size=2, R1")
    assert ours.startswith("Packet read without a bounds check.")
    # The catalogue's words name this program's facts (the failing line), then the cause.
    assert "The program reads 2 bytes" in ours
    assert "Fix: Compare against data_end first" in ours
    assert error.code_description is not None
    href = urlparse(error.code_description.href)
    assert href.fragment == "packet-bounds"
    page = Path(href.path).read_text()
    assert '<a id="packet-bounds"></a>' in page


async def test_unexplained_message_shows_the_failing_path(
    client: LanguageClient, kernel: None
) -> None:
    path = PROGRAMS / "rejected/rdonly_slice_write.bpf.c"
    text = path.read_text()
    diagnostics = await open_doc(client, path, text)
    close_doc(client, path)
    (error,) = [d for d in diagnostics if d.severity == types.DiagnosticSeverity.Error]
    assert error.message.startswith("R0 cannot write into rdonly_mem")
    assert "catalogue has no explanation" in error.message
    assert error.code_description is None
    slice_line = next(i for i, t in enumerate(text.splitlines()) if "bpf_dynptr_slice(&pkt" in t)
    steps = [r for r in error.related_information or [] if "failing path" in r.message]
    assert slice_line in [r.location.range.start.line for r in steps]


async def test_outline_of_a_real_program(client: LanguageClient, kernel: None) -> None:
    path = PROGRAMS / "clean/maps_and_globals.bpf.c"
    text = path.read_text()
    await open_doc(client, path, text)
    symbols = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(path.as_uri()))
    )
    assert symbols is not None
    by_name = {s.name: s for s in symbols if isinstance(s, types.DocumentSymbol)}
    lines = text.splitlines()
    prog = by_name["on_sys_enter"]
    assert prog.kind == types.SymbolKind.Function
    assert prog.detail == 'SEC("tracepoint/raw_syscalls/sys_enter")'
    sel = prog.selection_range
    assert lines[sel.start.line][sel.start.character : sel.end.character] == "on_sys_enter"
    assert by_name["per_pid"].kind == types.SymbolKind.Object
    assert by_name["per_pid"].detail == "hash · __u32 → __u64 · 4,096 entries"
    assert by_name["target_tgid"].kind == types.SymbolKind.Variable

    # While the buffer does not compile, the outline of the last version that did stays.
    broken = text.replace("int on_sys_enter(", "int on_sys_enter(((")
    await edit_and_save(client, path, 2, broken)
    again = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(types.TextDocumentIdentifier(path.as_uri()))
    )
    close_doc(client, path)
    assert again is not None
    assert {s.name for s in again} == set(by_name)
