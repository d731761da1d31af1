"""``andon bench-http``: sustained event ingest over HTTP on loopback.

Starts ``andon up`` in its own process on a fresh database, then has concurrent clients
post events for a while. Reports accepted events/s and latency percentiles, and checks
that every accepted event is in the inbox (none lost).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.errors import AndonError


@dataclass(frozen=True, slots=True)
class IngestConfig:
    seconds: float = 60.0
    clients: int = 8


def run_ingest(cfg: IngestConfig) -> dict[str, JsonValue]:
    workdir = Path(tempfile.mkdtemp(prefix=".andon-bench-http-", dir=Path.cwd()))
    db = workdir / "andon.db"
    try:
        app = bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{db}")))
        try:
            token = app.tokens.issue(app.actor(), "admin", "bench-http", days=1).token
        finally:
            app.close()
        port = _free_port()
        server = _serve(db, port)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, server)
            return _measure(base, token, db, cfg)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(base: str, token: str, db: Path, cfg: IngestConfig) -> dict[str, JsonValue]:
    latencies: list[float] = []
    accepted: list[str] = []
    refused: list[int] = []
    lock = threading.Lock()
    deadline = time.monotonic() + cfg.seconds

    def client(index: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            while time.monotonic() < deadline:
                event_id = f"c{index}-{uuid.uuid4().hex[:12]}"
                machine = f"CNC-0{index % 8 + 1}"
                data = {"equipment": {"id": machine},
                        "state": {"model": "PackML", "current": "Held", "code": 11},
                        "stop_reason": {"id": 2101, "code": "UNP-MECH"}}  # fmt: skip
                body = {"type": "machine.state_changed", "key": machine, "data": data,
                        "id": event_id, "source": "bench"}  # fmt: skip
                started = time.perf_counter()
                response = http.post("/v1/events", json=body)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code == 202:
                        accepted.append(event_id)
                        latencies.append(elapsed)
                    else:
                        refused.append(response.status_code)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(cfg.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    with closing(sqlite3.connect(db)) as conn:
        stored = {r[0] for r in conn.execute("SELECT event_id FROM inbox WHERE source='bench'")}
    lost = len(set(accepted) - stored)
    ordered = sorted(latencies) or [0.0]
    return {
        "clients": cfg.clients,
        "seconds": round(elapsed, 1),
        "accepted": len(accepted),
        "refused": len(refused),
        "accepted_per_s": round(len(accepted) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "lost": lost,
        "synchronous": "FULL",
    }


def _serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    env["ANDON_DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "andon.cli.main",
            "up",
            "--port",
            str(port),
            "--writes-per-s",
            "1000000",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AndonError("andon up exited before serving")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AndonError("andon up did not answer within 30 s")


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
