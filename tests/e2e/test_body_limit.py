"""Oversized request bodies against a real ``andon up``: refused with 413 before they are
read, so the server's memory stays flat even for 1 GB bodies from several senders."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

GB = 1 << 30
CHUNK = b"x" * (256 * 1024)
ROUTES = ["/v1/hooks/default/plc", "/v1/events", "/v1/session", "/ui/login"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """``andon up`` on a free loopback port: (pid, port)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "andon.cli.main", "up", "--port", str(port)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "andon up did not start"
            time.sleep(0.2)
        yield process.pid, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _send_huge(port: int, path: str, *, chunked: bool) -> tuple[bytes, int]:
    """Stream a 1 GB body (declared or chunked) until the server answers or hangs up;
    the answer's first bytes and how many body bytes went out."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {GB}\r\n\r\n"
    frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n" if chunked else CHUNK
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            while sent < GB:
                readable, writable, _ = select.select([sock], [sock], [], 30)
                if readable:
                    break
                assert writable, "the server neither read nor answered for 30 s"
                sent += sock.send(frame)
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: the body was not read to its end
    return answer, sent


def _assert_refused(answer: bytes, sent: int, path: str) -> None:
    assert sent < GB // 4, f"{path}: the server read {sent} bytes of the body"
    if answer:  # closing before the answer could be read is also a refusal
        assert answer.startswith(b"HTTP/1.1 413 "), (path, answer[:200])


@pytest.mark.slow
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_huge_bodies_are_refused_before_they_are_read(
    server: tuple[int, int], chunked: bool
) -> None:
    pid, port = server
    before = _rss_kib(pid)
    for path in ROUTES:
        _assert_refused(*_send_huge(port, path, chunked=chunked), path)
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            for path in ROUTES:
                _assert_refused(*_send_huge(port, path, chunked=chunked), path)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(timeout=120)
    assert not errors, errors
    after = _rss_kib(pid)
    assert after["VmRSS"] - before["VmRSS"] < 50 * 1024, (before, after)
    assert after["VmHWM"] - before["VmRSS"] < 50 * 1024, (before, after)


def test_the_refusal_is_a_problem_naming_the_limit(server: tuple[int, int]) -> None:
    _, port = server
    answer = httpx.post(f"http://127.0.0.1:{port}/v1/session", content=b"{" + b" " * 20_000 + b"}")
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["limit"] == 16 * 1024 and "16384 bytes" in problem["detail"]
    # Below the cap the route answers as before (a bad login, not a refusal of the body).
    small = httpx.post(f"http://127.0.0.1:{port}/v1/session", json={"tenant": "default"})
    assert small.status_code == 422
