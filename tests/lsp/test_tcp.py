"""`kptr-lsp --tcp HOST:PORT`: the same server over a loopback socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _reply_to(conn: socket.socket, request_id: int) -> dict[str, object]:
    """The response to `request_id`, skipping what the server may send first (window/logMessage
    during initialize); frames are read off one buffer, so none is lost between reads."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        head, _, data = data.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
        while len(data) < length:
            data += conn.recv(4096)
        message: dict[str, object] = json.loads(data[:length])
        data = data[length:]
        if message.get("id") == request_id and "method" not in message:
            return message


@pytest.mark.parametrize("host", ["127.0.0.1", ""], ids=["explicit", "default-loopback"])
def test_tcp_server_answers_initialize_on_loopback(host: str) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kptr_lsp", "--tcp", f"{host}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.1)
        with conn:
            init = {"processId": None, "rootUri": None, "capabilities": {}}
            conn.sendall(
                _frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
            )
            reply = _reply_to(conn, 1)
            result = reply["result"]
            assert isinstance(result, dict)
            assert result["serverInfo"]["name"] == "kptr-lsp"
            assert result["capabilities"]["hoverProvider"]
    finally:
        server.terminate()
        server.wait(timeout=10)
