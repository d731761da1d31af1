"""Run a real Tryton server from ``.tryton/venv`` on a private copy of the template database.

``scripts/tryton_env.py`` builds the venv and template once (about a minute); each server
here copies the 5 MB SQLite file, so tests never share ERP state unless they share a server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
TRYTON_DIR = Path(os.environ.get("ANDON_TRYTON_DIR", REPO / ".tryton"))
DATABASE = "andon"


@dataclass(frozen=True, slots=True)
class TrytonTemplate:
    """The built environment: venv, template database and the facts its base data holds."""

    venv: Path
    database_file: Path
    info: dict[str, object]

    @property
    def login(self) -> str:
        return str(self.info["login"])

    @property
    def password(self) -> str:
        return str(self.info["password"])


def ensure_template(directory: Path = TRYTON_DIR) -> TrytonTemplate:
    """Build venv and template if missing or stale; a no-op (well under a second) otherwise."""
    script = REPO / "scripts" / "tryton_env.py"
    result = subprocess.run(
        [sys.executable, str(script), "--dir", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tryton_env.py failed:\n{result.stdout}\n{result.stderr}")
    template = directory / "template"
    info = json.loads((template / "info.json").read_text())
    return TrytonTemplate(directory / "venv", template / f"{DATABASE}.sqlite", info)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TrytonServer:
    """One ``trytond`` process on loopback; ``stop``/``start`` keep the port and the data."""

    def __init__(self, template: TrytonTemplate, workdir: Path) -> None:
        self.template = template
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = DATABASE
        self._process: subprocess.Popen[bytes] | None = None
        self._conf = workdir / "trytond.conf"
        self._log = workdir / "trytond.log"
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template.database_file, workdir / f"{DATABASE}.sqlite")
        self._conf.write_text(
            f"[database]\nuri = sqlite://\npath = {workdir}\n"
            f"[web]\nlisten = 127.0.0.1:{self.port}\n"
        )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def env(self) -> dict[str, str]:
        """The ``ANDON_TRYTON_*`` variables the actions read."""
        return {
            "ANDON_TRYTON_URL": self.url,
            "ANDON_TRYTON_DB": self.database,
            "ANDON_TRYTON_USER": self.template.login,
            "ANDON_TRYTON_PASSWORD": self.template.password,
        }

    def start(self, timeout_s: float = 60.0) -> float:
        """Start and wait until JSON-RPC answers; return the seconds it took."""
        if self.running:
            return 0.0
        started = time.monotonic()
        # Through the venv's python, not the script's shebang, so a moved checkout still works.
        trytond = [
            str(self.template.venv / "bin" / "python"),
            str(self.template.venv / "bin" / "trytond"),
        ]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [*trytond, "-c", str(self._conf), "-d", self.database],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"trytond exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            if self._answers():
                return time.monotonic() - started
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"trytond did not answer within {timeout_s}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def restart(self) -> float:
        self.stop()
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        return self._log.read_text(errors="replace")[-chars:] if self._log.exists() else ""

    def _answers(self) -> bool:
        payload = {"id": 0, "method": "common.server.version", "params": []}
        try:
            response = httpx.post(f"{self.url}/rpc/", json=payload, timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200
