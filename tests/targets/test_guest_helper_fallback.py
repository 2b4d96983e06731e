"""A server run as nobody whose verify helper fails (here: a command that does not exist, as a
sudo rule missing on this machine would) verifies in the guest kernel instead, and says why
once: the host refused bpf() and the helper failed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from kptr_lsp.settings import GuestKernel
from tests.lsp.test_unprivileged import (
    GUEST_NOTICE,
    NOTICE,
    _line_of,
    _open,
    _start,
    _wait_for,
    _wait_for_message,
    guest_kernel_cache,
)
from tests.targets.conftest import PACKAGE, wait_vms_gone
from tests.verify.privileged import can_drop_privileges, shared_dir

PROGRAMS = Path(__file__).parent.parent / "programs"
CANNOT_DROP = can_drop_privileges()
pytestmark = pytest.mark.skipif(CANNOT_DROP is not None, reason=str(CANNOT_DROP))
MISSING_HELPER = ["sudo-missing-here", "-n", "kptr-lsp", "verify-helper"]


@pytest.fixture
def scratch() -> Iterator[Path]:
    with shared_dir() as path:
        yield path


async def test_a_failing_helper_falls_back_to_the_guest_kernel(scratch: Path) -> None:
    image = guest_kernel_cache(scratch, GuestKernel(package=PACKAGE))
    client = await _start(scratch, {"verifyHelper": MISSING_HELPER, "guestVerify": str(image)})
    server = client._server
    assert server is not None
    try:
        path = PROGRAMS / "rejected/map_value_null_deref.bpf.c"
        uri = path.as_uri()
        first = await _open(client, path)  # before the guest is up: nothing from a verifier
        assert not [d for d in first if d.source == "verifier"]
        diags = await _wait_for(client, uri, "verifier")
        (error,) = [d for d in diags if d.source == "verifier"]
        assert error.range.start.line == _line_of(path, "*count += 1;")
        assert error.message.startswith("[6.1.0-"), error.message
        assert "R0 invalid mem access 'map_value_or_null'" in error.message

        await _wait_for_message(client, GUEST_NOTICE)
        notices = [m.message for m in client.messages if GUEST_NOTICE in m.message]
        assert len(notices) == 1, [m.message for m in client.messages]
        assert "Operation not permitted" in notices[0]
        assert "the verify helper failed: cannot run 'sudo-missing-here'" in notices[0]
        assert not [m for m in client.messages if NOTICE in m.message]  # verified after all

        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(types.TextDocumentIdentifier(uri))
        )
        titles = [lens.command.title for lens in lenses or [] if lens.command is not None]
        assert titles and all(t.startswith("✗ rejected") for t in titles), titles
        assert all(" · in guest 6.1.0-" in t for t in titles), titles
    finally:
        await client.shutdown_session()
        await client.stop()
    assert await wait_vms_gone(server.pid) == [], "the guest outlived the server"
