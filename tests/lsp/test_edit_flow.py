"""The editing loop as a user lives it: unsaved text is what gets checked, the latest version
wins, saving refreshes, closing clears. Real client, real clang, real verifier."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.harness import SERVER, answer_refreshes, change, next_publish

GOOD = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&counts, &key);

	if (!value)
		return XDP_PASS;
	*value += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
"""
# The same program without the NULL check: the verifier rejects the increment (a hash map
# lookup may return NULL; an array lookup with a constant in-range key may not).
BAD = GOOD.replace("\tif (!value)\n\t\treturn XDP_PASS;\n", "")
BAD_LINE = BAD.splitlines().index("\t*value += 1;")  # 0-based, as LSP counts


@pytest_lsp.fixture(
    config=SERVER,
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> None:
    answer_refreshes(lsp_client, besides=(types.WORKSPACE_CODE_LENS_REFRESH,))

    @lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params: None) -> None:
        """VS Code re-fetches code lenses when asked; this test does not look at them."""

    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=tmp_path.as_uri(),
        initialization_options={"changeDelayMs": 100},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


def verifier_errors(params: types.PublishDiagnosticsParams) -> list[types.Diagnostic]:
    return [d for d in params.diagnostics if d.source == "verifier"]


async def test_unsaved_text_is_checked_and_latest_version_wins(
    client: LanguageClient, kernel: None, tmp_path: Path
) -> None:
    path = tmp_path / "counter.bpf.c"
    path.write_text(GOOD)  # on disk: fine; in the editor: the bad version
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, BAD))
    )
    first = await next_publish(client, uri)
    errors = verifier_errors(first)
    assert [d.range.start.line for d in errors] == [BAD_LINE]
    assert "invalid mem access 'map_value_or_null'" in errors[0].message
    assert errors[0].severity == types.DiagnosticSeverity.Error

    # A burst of edits: only the last version's findings may be published.
    for version in range(2, 8):
        change(client, uri, version, BAD if version % 2 else GOOD)
    change(client, uri, 8, GOOD)
    final = await next_publish(client, uri)
    assert final.version == 8
    assert list(final.diagnostics) == []


async def test_save_refreshes_and_close_clears(
    client: LanguageClient, kernel: None, tmp_path: Path
) -> None:
    path = tmp_path / "saved.bpf.c"
    path.write_text(BAD)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, BAD))
    )
    assert verifier_errors(await next_publish(client, uri))

    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    again = await next_publish(client, uri)
    assert [d.range.start.line for d in verifier_errors(again)] == [BAD_LINE]

    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
    )
    cleared = await next_publish(client, uri)
    assert list(cleared.diagnostics) == []


async def test_clang_error_in_the_buffer_has_line_and_column(
    client: LanguageClient, tmp_path: Path
) -> None:
    broken = GOOD.replace("*value += 1;", "*value += undeclared_thing;")
    path = tmp_path / "broken.bpf.c"
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, broken))
    )
    params = await next_publish(client, uri)
    clang = [d for d in params.diagnostics if d.source == "clang"]
    assert clang, params.diagnostics
    line = broken.splitlines().index("\t*value += undeclared_thing;")
    assert clang[0].range.start.line == line
    assert clang[0].range.start.character == broken.splitlines()[line].index("undeclared_thing")
    assert "undeclared_thing" in clang[0].message


async def test_user_space_c_is_left_alone(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "loader.c"
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(
                uri, "c", 1, "#include <stdio.h>\nint main(void) { return 0; }\n"
            )
        )
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(next_publish(client, uri), 3)
