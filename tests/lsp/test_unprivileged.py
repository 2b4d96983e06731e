"""The server as most editors run it: an ordinary user, bpf() refused. A real client talks to
`kptr-lsp` started as nobody with no capabilities; then the same with a privileged helper."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.fetch import CACHE_DIR, image_digest
from kptr_lsp.targets.kernels import TargetError, image_of
from kptr_lsp.targets.vm import QEMU
from kptr_lsp.toolchain.debian import libbpf_dir
from tests.lsp.harness import answer_refreshes, apply
from tests.targets.conftest import IMAGE_73, PACKAGE_73, vms_of, wait_vms_gone
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
        # the guest kernel only where a test sets guestVerify (its own tests below)
        "KPTR_LSP_GUEST_VERIFY": "off",
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


# --- guestVerify: the guest kernel as the verifier of last resort --------------------------

GUEST_NOTICE = "verified in guest kernel"
GUEST_TIMEOUT_S = 400  # TCG boot on a busy 2-core machine, the guest loader built once


def guest_kernel_cache(scratch: Path, kernel: GuestKernel | None = None) -> Path:
    """A guest kernel (Debian's 7.3 unless `kernel` is given) as `make kernels` fetched it,
    where nobody can read it, and nobody's cache (XDG_CACHE_HOME) holding its BTF and the
    current libbpf: nothing is downloaded; the guest loader is built there."""
    if shutil.which(QEMU) is None:
        _unavailable(f"{QEMU} is not installed")
    if kernel is None:
        kernel = GuestKernel(image=IMAGE_73) if IMAGE_73 else GuestKernel(package=PACKAGE_73)
    try:
        image = image_of(kernel)
    except TargetError as exc:
        _unavailable(str(exc))
    ours = scratch / "cache" / "kptr-lsp"
    (ours / "kernels").mkdir(parents=True)
    copy = scratch / "guest-vmlinuz"
    shutil.copy(image, copy)
    btf = CACHE_DIR / "btf" / f"{image_digest(image)}.btf"
    if btf.exists():  # read from the guest over its serial port otherwise (slow under TCG)
        (ours / "kernels" / "btf").mkdir()
        shutil.copy(btf, ours / "kernels" / "btf" / btf.name)
    if libbpf_dir().is_dir():
        shutil.copytree(libbpf_dir(), ours / libbpf_dir().relative_to(CACHE_DIR.parent))
    subprocess.run(["chmod", "-R", "a+rwX", str(scratch / "cache"), str(copy)], check=True)
    return copy


def _unavailable(why: str) -> None:
    if os.environ.get("KPTR_LSP_REQUIRE_KERNEL") == "1":
        pytest.fail(f"KPTR_LSP_REQUIRE_KERNEL=1 but no guest kernel: {why} (run `make kernels`)")
    pytest.skip(f"no guest kernel: {why} (run `make kernels`)")


async def _wait_for(client: LanguageClient, uri: str, source: str) -> list[types.Diagnostic]:
    async def poll() -> list[types.Diagnostic]:
        while not any(d.source == source for d in client.diagnostics.get(uri, [])):
            await asyncio.sleep(0.1)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(poll(), GUEST_TIMEOUT_S)


async def _wait_for_message(client: LanguageClient, words: str) -> None:
    async def poll() -> None:
        while not any(words in m.message for m in client.messages):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 30)


def _as_user(pid: int) -> int:
    return int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("Uid:")).split()[1])  # fmt: skip


async def test_without_bpf_the_guest_kernel_verifies_with_one_notice(scratch: Path) -> None:
    """nobody, no capabilities, no helper: the kernel's error on its line, from a guest
    kernel the server booted as nobody; clang's findings first, without waiting for it."""
    image = guest_kernel_cache(scratch)
    client = await _start(scratch, {"guestVerify": str(image)})
    server = client._server
    assert server is not None
    try:
        path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
        uri = path.as_uri()
        first = await _open(client, path)  # published before the guest is up
        assert not [d for d in first if d.source == "verifier"]
        diags = await _wait_for(client, uri, "verifier")
        (error,) = [d for d in diags if d.source == "verifier"]
        assert error.range.start.line == _line_of(path, "*count += 1;")
        label = error.message.split("]", 1)[0].lstrip("[")
        assert label.startswith("7.3."), error.message  # the kernel that judged it
        assert error.message.startswith(f"[{label}] R0 invalid mem access 'map_value_or_null'")

        await _wait_for_message(client, GUEST_NOTICE)  # sent right after that publish
        notices = [m.message for m in client.messages if GUEST_NOTICE in m.message]
        assert len(notices) == 1, [m.message for m in client.messages]
        assert f"guest kernel {label} (qemu, " in notices[0]
        assert "Operation not permitted" in notices[0]  # why the host refused
        assert "CAP_BPF" in notices[0] and "verifyHelper" in notices[0]  # how to get the host's
        assert not [m for m in client.messages if NOTICE in m.message]
        boots = [m.message for m in client.log_messages if "is up in qemu" in m.message]
        assert len(boots) == 1 and ("(TCG" in boots[0] or "(KVM)" in boots[0]), boots
        started = [
            r for reports in client.progress_reports.values() for r in reports
            if isinstance(r, types.WorkDoneProgressBegin) and r.message
            and "guest kernel" in r.message
        ]  # fmt: skip
        assert started, "no work-done progress while the guest booted"

        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(types.TextDocumentIdentifier(uri))
        )
        titles = [lens.command.title for lens in lenses or [] if lens.command is not None]
        assert titles and all(
            t.startswith("✗ rejected") and t.endswith(f" · in guest {label}") for t in titles
        ), titles
        # the state hover, from the guest's level-2 log
        line = _line_of(path, "*count += 1;")
        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, 1))
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        state = "`r0`: pointer into a value of map `syscalls_per_pi` (8 bytes) — may be NULL"
        assert state in hover.contents.value, hover.contents.value

        # a quick fix, applied, is verified again in the guest, which accepts it
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri),
                error.range,
                types.CodeActionContext(diagnostics=[error]),
            )
        )
        (listed,) = [a for a in actions or [] if isinstance(a, types.CodeAction)]
        # This client resolves code actions: the edit comes once the guest accepted the fix
        # (the host cannot judge it: bpf() is refused here).
        fix = await client.code_action_resolve_async(listed) if listed.edit is None else listed
        assert fix.disabled is None, fix.disabled
        assert fix.edit is not None and fix.edit.changes is not None
        fixed = apply(path.read_text(), list(fix.edit.changes[uri]))
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                [types.TextDocumentContentChangeWholeDocument(text=fixed)],
            )
        )

        async def accepted() -> None:
            while True:
                lenses = await client.text_document_code_lens_async(
                    types.CodeLensParams(types.TextDocumentIdentifier(uri))
                )
                got = [x.command.title for x in lenses or [] if x.command is not None]
                if got and all(t.startswith("✓ ") for t in got):
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(accepted(), GUEST_TIMEOUT_S)
        assert not [d for d in client.diagnostics[uri] if d.source == "verifier"]

        # nothing runs as root on the host: the server and its qemu are nobody's
        qemus = vms_of(server.pid)
        assert len(qemus) == 1
        nobody = _as_user(server.pid)
        assert nobody != 0 and _as_user(int(qemus[0].split()[0])) == nobody
    finally:
        await client.shutdown_session()
        await client.stop()
    assert await wait_vms_gone(server.pid) == [], "the guest outlived the server"
