"""A real Mosquitto broker per test, on a free loopback port with its own persistence dir.

It can be stopped and started again on the same port and store, so tests can check that
persistent sessions (and the unacked messages in them) survive.
"""

from __future__ import annotations

import getpass
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_service import LocalService, binary


class Mosquitto(LocalService):
    """One mosquitto process with persistence (sessions and unacked messages survive)."""

    name = "mosquitto"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.binary = binary("mosquitto", "mosquitto")
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {root}/\n"
            "autosave_interval 1\n"
            # a persistent session keeps everything sent while its client is away
            "max_queued_messages 0\n"
            # as root, mosquitto drops to its own user, who may not write to our temp dir
            f"user {getpass.getuser()}\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    """A fresh broker for one test (about 20 ms to start); ``.host`` and ``.port``."""
    root = Path(tempfile.mkdtemp(prefix="andon-mosquitto-"))
    broker = Mosquitto(root)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
