"""An edit storm through a real client: 300 rapid didChange/didSave notifications over three
open files while hovers keep being asked. The server answers every hover, ends with exactly
each file's latest-version diagnostics, and leaks nothing: no file descriptors, no temp files,
no BPF program or map left in the kernel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

PROGRAMS = Path(__file__).parent.parent / "programs"
NOTIFICATIONS = 300
TIMEOUT_S = 180

TEMPLATE = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {{
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
}} storm_{n}_map SEC(".maps");

SEC("xdp")
int storm_{n}_prog(struct xdp_md *ctx)
{{
	__u32 key = {edit};
	__u64 *value = bpf_map_lookup_elem(&storm_{n}_map, &key);
{check}
	*value += 1;
	return XDP_PASS;
}}

char LICENSE[] SEC("license") = "GPL";
"""
CHECK = "\tif (!value)\n\t\treturn XDP_PASS;\n"


def source(name: str, edit: int, bad: bool) -> str:
    return TEMPLATE.format(n=name, edit=edit, check="" if bad else CHECK)


def bad_line(text: str) -> int:
    return text.splitlines().index("\t*value += 1;")


publishes: list[types.PublishDiagnosticsParams] = []


def recording_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics in arrival order."""
    client = LanguageClient(converter_factory=default_converter)
    default = DEFAULT_CLIENT_FEATURES[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def record(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        publishes.append(params)
        default(client, params)

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = record
    register_lsp_features(client, features)
    return client


def kernel_names() -> set[str]:
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    names: set[str] = set()
    for kind in ("prog", "map"):
        out = subprocess.run(
            [bpftool, "-j", kind, "list"], capture_output=True, text=True, check=True
        ).stdout
        names |= {str(item.get("name", "")) for item in json.loads(out or "[]")}
    return {n for n in names if n.startswith("storm_")}


@pytest.fixture
async def storm_server(tmp_path: Path) -> AsyncIterator[tuple[LanguageClient, Path]]:
    server_tmp = Path(tempfile.mkdtemp(prefix="kptr-storm-tmp-", dir=tmp_path))
    env = dict(os.environ, TMPDIR=str(server_tmp))
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "kptr_lsp"],
        client_factory=recording_client,
        server_env=env,
    )
    publishes.clear()
    client = await config.start()
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=tmp_path.as_uri(),
            initialization_options={"changeDelayMs": 30},
        )
    )
    yield client, server_tmp
    await client.shutdown_session()
    await client.stop()


def server_fds(client: LanguageClient) -> set[str]:
    assert client._server is not None
    fd_dir = f"/proc/{client._server.pid}/fd"
    return {f"{fd}->{os.readlink(f'{fd_dir}/{fd}')}" for fd in os.listdir(fd_dir)}


def server_children(client: LanguageClient) -> set[int]:
    """Processes the server is running right now (clang, a background PCH build)."""
    assert client._server is not None
    tasks = f"/proc/{client._server.pid}/task"
    kids: set[int] = set()
    for tid in os.listdir(tasks):
        with contextlib.suppress(OSError), open(f"{tasks}/{tid}/children") as fh:
            kids |= {int(p) for p in fh.read().split()}
    return kids


async def quiet_fds(client: LanguageClient) -> set[str]:
    """The server's descriptors once it has no child at work (whose pipes come and go)."""
    await wait_until(lambda: not server_children(client), "the server's children to finish")
    return server_fds(client)


async def wait_until(predicate: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_edit_storm(
    kernel: None, storm_server: tuple[LanguageClient, Path], tmp_path: Path
) -> None:
    client, server_tmp = storm_server
    names = ("a", "b", "c")
    uris = {n: (tmp_path / f"storm_{n}.bpf.c").as_uri() for n in names}
    versions = dict.fromkeys(names, 1)
    texts = {n: source(n, 0, bad=True) for n in names}
    for n in names:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uris[n], "c", 1, texts[n]))
        )
    kptr = PROGRAMS / "clean/kptr_ok.bpf.c"
    kptr_text = kptr.read_text()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(kptr.as_uri(), "c", 1, kptr_text))
    )
    hover_line = next(i for i, t in enumerate(kptr_text.splitlines()) if "__kptr *task" in t)
    hover_at = types.HoverParams(
        types.TextDocumentIdentifier(kptr.as_uri()),
        types.Position(hover_line, kptr_text.splitlines()[hover_line].index("__kptr *task")),
    )
    # Warm up: every file analysed once, so lazily opened state (libbpf, kernel BTF) is there.
    await wait_until(
        lambda: all(u in client.diagnostics for u in [*uris.values(), kptr.as_uri()]),
        "the first analyses",
    )
    fds_before = await quiet_fds(client)
    assert not kernel_names()

    rng = random.Random(300)
    hovers: list[types.Hover | None] = []
    for i in range(NOTIFICATIONS):
        n = names[i % 3]
        if rng.random() < 0.2:
            client.text_document_did_save(
                types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uris[n]))
            )
        else:
            versions[n] += 1
            last_round = i >= NOTIFICATIONS - 3
            bad = n != "b" if last_round else rng.random() < 0.5
            texts[n] = source(n, i, bad)
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    types.VersionedTextDocumentIdentifier(version=versions[n], uri=uris[n]),
                    [types.TextDocumentContentChangeWholeDocument(texts[n])],
                )
            )
        if i % 10 == 0:
            hover = await asyncio.wait_for(client.text_document_hover_async(hover_at), 30)
            hovers.append(hover)
        if i % 25 == 0:
            await asyncio.sleep(0.1)  # let some analyses start, so some are superseded mid-way
    assert len(hovers) == NOTIFICATIONS // 10
    for hover in hovers:  # the kptr file never changed: its hover is always there
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert "referenced kptr to struct task_struct" in hover.contents.value

    def settled() -> bool:
        last = {p.uri: p for p in publishes}
        return all(u in last and last[u].version == versions[n] for n, u in uris.items())

    await wait_until(settled, "the latest versions' diagnostics")
    await asyncio.sleep(2)  # anything stale still in flight would arrive now
    for n, uri in uris.items():
        mine = [p for p in publishes if p.uri == uri]
        final = mine[-1]
        assert final.version == versions[n], f"{n}: a stale publish came after the latest"
        # once the latest version was published, nothing older ever followed
        first_latest = next(i for i, p in enumerate(mine) if p.version == versions[n])
        assert all(p.version == versions[n] for p in mine[first_latest:])
        errors = [d for d in final.diagnostics if d.severity == types.DiagnosticSeverity.Error]
        if n == "b":
            assert errors == [], errors
        else:
            assert [(d.source, d.range.start.line) for d in errors] == [
                ("verifier", bad_line(texts[n]))
            ]
            assert "invalid mem access 'map_value_or_null'" in errors[0].message

    # Nothing leaked: the server's descriptors, its temp dir, the kernel.
    assert await quiet_fds(client) == fds_before
    assert list(server_tmp.iterdir()) == []
    deadline = time.monotonic() + 5  # maps go an RCU grace period after their last program
    while kernel_names() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not kernel_names()
