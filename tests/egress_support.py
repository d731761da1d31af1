"""Real TCP listeners that count the connections they accept, for tests of where Andon
may connect to: a denied target must count zero."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"secret": "x"}'
Reply = Callable[[socket.socket], None]


class Listener:
    """A TCP listener that counts accepted connections and answers each with ``reply``."""

    def __init__(self, host: str, reply: Reply | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.host = host
        self.accepted = 0
        self.reply = reply or answer(OK)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.reply(conn)

    def close(self) -> None:
        self.sock.close()


def answer(payload: bytes, keep_alive: bool = False) -> Reply:
    """A reply that sends ``payload`` to each request (only the first unless kept alive)."""

    def reply(conn: socket.socket) -> None:
        while read_request(conn):
            conn.sendall(payload)
            if not keep_alive:
                return

    return reply


def read_request(conn: socket.socket) -> bool:
    """Read one HTTP request, head and body; False when the peer closed instead."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(rest) < length:
        rest += conn.recv(4096)
    return True
