"""The server as most editors run it: an ordinary user, bpf() refused. A real client talks to
`kptr-lsp` started as nobody with no capabilities; then the same with a privileged helper."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.lsp.harness import answer_refreshes
from tests.verify.privileged import DROP, can_drop_privileges, helper_service, shared_dir

PROGRAMS = Path(__file__).parent.parent / "programs"
TIMEOUT_S = 120
NOTICE = "not being checked by the kernel verifier"

CANNOT_DROP = can_drop_privileges()
pytestmark = pytest.mark.skipif(CANNOT_DROP is not None, reason=str(CANNOT_DROP))


@pytest.fixture
def scratch() -> Iterator[Path]:
    with shared_dir() as path:
        yield path


async def _start(scratch: Path, options: dict[str, object]) -> LanguageClient:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_CACHE_HOME": str(scratch / "cache"),  # nobody's HOME does not exist
        "TMPDIR": str(scratch),
    }
    config = ClientServerConfig(
        server_command=[*DROP, sys.executable, "-m", "kptr_lsp"], server_env=env
    )
    client = await config.start()
    answer_refreshes(client)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=PROGRAMS.as_uri(),
            initialization_options=options,
        )
    )
    return client


@pytest.fixture
async def unprivileged(scratch: Path) -> AsyncIterator[LanguageClient]:
    client = await _start(scratch, {})
    yield client
    await client.shutdown_session()
    await client.stop()


async def _open(client: LanguageClient, path: Path) -> list[types.Diagnostic]:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, path.read_text()))
    )

    async def poll() -> list[types.Diagnostic]:
        while uri not in client.diagnostics:
            await asyncio.sleep(0.05)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(poll(), TIMEOUT_S)


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines()) if needle in t)


async def test_without_bpf_one_notice_and_everything_else_works(
    unprivileged: LanguageClient,
) -> None:
    client = unprivileged
    clang_error = PROGRAMS / "rejected/clang_error.bpf.c"
    diags = await _open(client, clang_error)
    assert [(d.source, d.range.start.line) for d in diags] == [
        ("clang", _line_of(clang_error, "return acton;"))
    ]

    bad_tag = PROGRAMS / "tags/unknown_tag.bpf.c"
    diags = await _open(client, bad_tag)
    checks = [d for d in diags if d.source == "kptr-lsp"]
    assert [d.range.start.line for d in checks] == [_line_of(bad_tag, "__kptr_ref *task")]
    assert "not a kptr tag" in checks[0].message
    assert not [d for d in diags if d.source == "verifier"]  # nothing claimed about the kernel

    null_deref = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
    assert [d for d in await _open(client, null_deref) if d.severity == 1] == []

    kptr = PROGRAMS / "clean/kptr_ok.bpf.c"
    await _open(client, kptr)
    line = _line_of(kptr, "__kptr *task")
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(kptr.as_uri()), types.Position(line, 30))
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "referenced kptr to struct task_struct" in hover.contents.value

    notices = [m for m in client.messages if NOTICE in m.message]
    assert len(notices) == 1, client.messages  # four files, one notice per session
    assert "Operation not permitted" in notices[0].message
    assert "verifyHelper" in notices[0].message and "CAP_BPF" in notices[0].message


async def test_a_privileged_helper_brings_the_verifier_back(kernel: None, scratch: Path) -> None:
    with helper_service(scratch) as command:
        client = await _start(scratch, {"verifyHelper": command})
        try:
            path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
            diags = await _open(client, path)
            verifier = [d for d in diags if d.source == "verifier"]
            assert [d.range.start.line for d in verifier] == [_line_of(path, "*count += 1;")], [
                m.message for m in client.messages
            ]
            assert "invalid mem access 'map_value_or_null'" in verifier[0].message

            clean = await _open(client, PROGRAMS / "clean/xdp.bpf.c")
            assert [d for d in clean if d.severity == 1] == []
            assert not [m for m in client.messages if NOTICE in m.message]
        finally:
            await client.shutdown_session()
            await client.stop()


async def test_a_helper_that_fails_is_one_notice_with_its_reason(scratch: Path) -> None:
    client = await _start(scratch, {"verifyHelper": ["sudo-missing-here", "-n", "kptr-lsp"]})
    try:
        await _open(client, PROGRAMS / "rejected/map_value_null_deref.bpf.c")
        await _open(client, PROGRAMS / "clean/xdp.bpf.c")
        notices = [m.message for m in client.messages if NOTICE in m.message]
        assert len(notices) == 1
        assert "the verify helper failed: cannot run 'sudo-missing-here'" in notices[0]
    finally:
        await client.shutdown_session()
        await client.stop()


def test_cap_bpf_and_cap_perfmon_are_enough(kernel: None, scratch: Path) -> None:
    """As the README says: nobody with only these two (ambient) capabilities gets verdicts."""
    caps = ["--inh-caps=-all,+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"]
    command = [*DROP[:-1], *caps, sys.executable, "-m", "kptr_lsp", "check"]
    path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
    env = {"PATH": os.environ.get("PATH", ""), "XDG_CACHE_HOME": str(scratch / "cache")}
    run = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert run.returncode == 1, run.stderr
    line = _line_of(path, "*count += 1;") + 1
    assert f"map_value_null_deref.bpf.c:{line}:9: error: R0 invalid mem access" in run.stdout

    bare = subprocess.run(
        [*DROP, sys.executable, "-m", "kptr_lsp", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "not verified by the kernel: bpf(BPF_PROG_LOAD) failed: Operation not permitted" in (
        bare.stdout
    )
