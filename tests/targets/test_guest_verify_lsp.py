"""guestVerify through a real LSP client, bpf() allowed: this host refuses fentry/fexit loads
with EPERM whatever the code, so those programs get their verdict from a guest kernel the
server boots in the background, and their findings say so."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from kptr_lsp.settings import GuestKernel
from kptr_lsp.targets.kernels import TargetError, image_of
from kptr_lsp.targets.vm import QEMU, kvm_unusable
from tests.lsp.harness import SERVER, answer_refreshes, close
from tests.targets.conftest import PACKAGE, _unavailable, wait_vms_gone

PROGRAMS = Path(__file__).parent.parent / "programs"
FENTRY = PROGRAMS / "clean" / "fentry.bpf.c"
GUEST_TIMEOUT_S = 300
pytestmark = pytest.mark.asyncio(loop_scope="module")

# An fentry program the verifier rejects (a map value used without its NULL check).
REJECTED = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

SEC("fentry/do_unlinkat")
int BPF_PROG(count_unlinks, int dfd, struct filename *name)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &key);

	*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def guest_image() -> Path:
    if shutil.which(QEMU) is None:
        _unavailable(f"{QEMU} is not installed")
    try:
        return image_of(GuestKernel(package=PACKAGE))
    except TargetError as exc:
        _unavailable(str(exc))
        raise


@pytest_lsp.fixture(config=SERVER, scope="module")  # type: ignore[untyped-decorator]
async def client(lsp_client: LanguageClient, guest_image: Path) -> AsyncIterator[None]:
    answer_refreshes(lsp_client)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=PROGRAMS.as_uri(),
            initialization_options={"diagnosticsOnChange": False, "guestVerify": PACKAGE},
        )
    )
    yield
    server = lsp_client._server
    assert server is not None
    await lsp_client.shutdown_session()
    assert await wait_vms_gone(server.pid) == [], "the server left its guest VM running"


def _open(client: LanguageClient, path: Path, text: str) -> str:
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "c", 1, text))
    )
    return uri


async def _until(client: LanguageClient, uri: str, words: str) -> list[types.Diagnostic]:
    async def poll() -> list[types.Diagnostic]:
        while not any(words in d.message for d in client.diagnostics.get(uri, [])):
            await asyncio.sleep(0.1)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(poll(), GUEST_TIMEOUT_S)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, t in enumerate(text.splitlines()) if needle in t)


async def test_fentry_programs_refused_here_get_the_guests_verdict(
    client: LanguageClient, kernel: None
) -> None:
    uri = _open(client, FENTRY, FENTRY.read_text())
    diags = await _until(client, uri, "Verified in guest kernel")
    infos = [d for d in diags if d.code == "not-verifiable"]
    assert len(infos) == 2  # the host's own words stay: it will not load them here
    for d in infos:
        assert "Operation not permitted" in d.message
        assert d.message.endswith("instead: it accepted it."), d.message
    label = infos[0].message.rsplit("Verified in guest kernel ", 1)[1].split(" ", 1)[0]
    assert label.startswith("6.1.0-")
    assert not [d for d in diags if d.severity == types.DiagnosticSeverity.Error]
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(types.TextDocumentIdentifier(uri))
    )
    titles = [lens.command.title for lens in lenses or [] if lens.command is not None]
    assert len(titles) == 2
    assert all(t.startswith("✓ ") and t.endswith(f" · in guest {label}") for t in titles), titles
    # The server log says which accelerator runs the guest, and why not KVM when it was tried
    # (this server runs as root: /dev/kvm opens for it, wherever the machine has one).
    (boot,) = [m.message for m in client.log_messages if "is up in qemu" in m.message]
    if kvm_unusable() is None:
        assert "(KVM)" in boot or "(TCG; KVM: " in boot, boot
    else:
        assert "(TCG)" in boot, boot
    close(client, FENTRY)


async def test_a_rejected_fentry_program_gets_the_guest_kernels_error_on_its_line(
    client: LanguageClient, kernel: None, tmp_path: Path
) -> None:
    path = tmp_path / "count_unlinks.bpf.c"
    path.write_text(REJECTED)
    uri = _open(client, path, REJECTED)
    diags = await _until(client, uri, "invalid mem access")
    (error,) = [d for d in diags if d.severity == types.DiagnosticSeverity.Error]
    assert error.range.start.line == _line_of(REJECTED, "*n += 1;")
    assert error.message.startswith("[6.1.0-")
    assert "R0 invalid mem access 'map_value_or_null'" in error.message.splitlines()[0]
    assert "Verified in guest kernel 6.1.0-" in error.message
    assert "does not allow this program type" in error.message
    (info,) = [d for d in diags if d.code == "not-verifiable"]
    assert info.message.endswith("instead: it rejected it (see its Error).")
    close(client, path)
