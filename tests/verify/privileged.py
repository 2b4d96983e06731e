"""Test plumbing for the unprivileged path: drop to nobody, and a root-side helper service."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RELAY = Path(__file__).with_name("helper_relay.py")
# Real uid/gid nobody, no supplementary groups, no capabilities: bpf() is refused (EPERM).
DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all"]
HELPER = [sys.executable, "-m", "kptr_lsp", "verify-helper"]
# The relay needs only the standard library; the system python is one nobody can run even
# when the venv's interpreter lives under a private home directory.
RELAY_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def can_drop_privileges() -> str | None:
    """None when the test can run things as nobody, else why not."""
    if os.geteuid() != 0:
        return "dropping to nobody needs root"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    return None


@contextmanager
def shared_dir() -> Iterator[Path]:
    """A temporary directory nobody can use (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="kptr-lsp-test-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def helper_service(directory: Path) -> Iterator[list[str]]:
    """Serve `kptr-lsp verify-helper` as root on a Unix socket; yields the unprivileged
    command that reaches it (what `sudo -n kptr-lsp verify-helper` would be)."""
    path = directory / "helper.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
    stopping = threading.Event()
    children: list[subprocess.Popen[bytes]] = []

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                children.append(subprocess.Popen(HELPER, stdin=conn, stdout=conn))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield [RELAY_PYTHON, str(RELAY), str(path)]
    finally:
        stopping.set()
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(5)
        for child in children:
            child.wait(30)
