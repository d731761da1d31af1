"""A real nats-server with JetStream per test, on a free loopback port and its own store dir.

It can be stopped and started again on the same port and store, so tests can cut the broker
away mid-stream and check that streams, consumers and unacked messages survive.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_service import LocalService, binary


class NatsServer(LocalService):
    """One nats-server process with JetStream; its store dir outlives restarts."""

    name = "nats-server"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.binary = binary("nats-server", "nats-server")
        self.store = root / "store"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [self.binary, "-a", self.host, "-p", str(self.port), "-js", "-sd", str(self.store)]


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh JetStream server for one test (a few tens of ms to start)."""
    root = Path(tempfile.mkdtemp(prefix="andon-nats-"))
    server = NatsServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url
