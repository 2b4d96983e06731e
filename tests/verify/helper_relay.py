"""Stands in for `sudo -n kptr-lsp verify-helper` in tests (no sudo on CI machines).

Run by the unprivileged server as its verifyHelper command: connects to a Unix socket where
the test, as root, starts a real `kptr-lsp verify-helper` per connection, and relays this
process's stdin/stdout to it — the same plumbing sudo provides.
"""

from __future__ import annotations

import socket
import sys
import threading


def main(path: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)

    def send() -> None:
        while chunk := sys.stdin.buffer.read1(1 << 16):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)  # the helper stops at end of input

    threading.Thread(target=send, daemon=True).start()
    while chunk := sock.recv(1 << 16):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
