"""A broker or server binary run by a test on a free loopback port, stoppable and
restartable on the same port and store (to cut it away mid-stream, or crash it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def binary(name: str, package: str) -> str:
    """The path of ``name``; a missing one fails the test (CI installs it with
    scripts/services.sh), it never skips."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/services.sh (apt package {package})")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalService:
    """One process of ``command()``; ``stop()``/``start()`` keep the port and the store."""

    host = "127.0.0.1"
    name = "service"

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.root = root
        self.log = root / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (a clean shutdown that saves the store) or SIGKILL (a crash)."""
        process, self._process = self._process, None
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
