"""One effect per step visit through ``http.request``, against a real receiver on loopback
that applies the effect and then fails to say so: it answers 503, it stalls past the
step's timeout, or the worker is killed while it waits. Every retry and re-delivery of
the visit carries the same ``Idempotency-Key`` (and a rising ``Andon-Attempt``), so the
receiver, which dedupes by key as a real one would, applies the effect exactly once."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import crash_actions
import fault_load
import pytest

from andon import bootstrap
from andon.config import Settings
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish
from backends import settings_for

FLOW = """
id: stub-order
version: 1
input:
  type: object
  required: [url]
  properties: {url: {type: string}}
steps:
  - id: order
    kind: action
    action: http.request
    input: {url: input.url}
    timeout: 1s
    retry: {max_attempts: 5, initial: 10ms, max: 20ms, jitter: 0}
  - {id: done, kind: end, outcome: ordered}
"""


class Receiver(ThreadingHTTPServer):
    """Applies each request's effect once per Idempotency-Key, then misbehaves on the first
    attempt as ``mode`` says: ``503``, ``stall`` (until released) or ``hang`` (until the
    test has killed the worker)."""

    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode = mode
        self.lock = threading.Lock()
        self.seen: list[tuple[str, int]] = []
        self.effects: Counter[str] = Counter()
        self.first_arrived = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/orders"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        key = self.headers["Idempotency-Key"]
        attempt = int(self.headers["Andon-Attempt"])
        receiver = self.server
        with receiver.lock:
            first = not receiver.seen
            receiver.seen.append((key, attempt))
            receiver.effects[key] = 1  # applied once per key, however often it comes
        if not first:
            self._send(200)
            return
        receiver.first_arrived.set()
        if receiver.mode == "503":
            self._send(503)
            return
        receiver.release.wait(30)  # stall / hang: the answer comes too late or never
        if receiver.mode == "stall":  # when "hang", the worker that asked is gone
            self._send(200)

    def _send(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")  # the receiver is on loopback
    with settings_for(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def app(settings: Settings) -> Iterator[bootstrap.App]:
    built = bootstrap.build(settings)
    publish(built.service, built.actor(), FLOW, "stub-order.yaml")
    yield built
    built.close()


def serve(mode: str) -> Receiver:
    receiver = Receiver(mode)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    return receiver


def close(receiver: Receiver) -> None:
    receiver.release.set()
    receiver.shutdown()
    receiver.server_close()


@pytest.mark.parametrize("mode", ["503", "stall"])
def test_a_lost_answer_is_retried_under_the_same_key_and_takes_effect_once(
    app: bootstrap.App, mode: str
) -> None:
    receiver = serve(mode)
    stop = threading.Event()
    worker = app.worker(WorkerSettings(threads=2, poll_s=0.05))
    working = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    working.start()
    try:
        run_id = app.service.start_run(
            app.actor(), StartRequest("stub-order", {"url": receiver.url})
        )
        ended = app.service.wait_until_ended(app.actor(), run_id, 30)
    finally:
        stop.set()
        app.service.wake()
        working.join(10)
        worker.close()
        close(receiver)
    assert ended
    run = app.service.run(app.actor(), run_id)
    assert (run.status, run.outcome) == ("completed", "ordered")
    key = f"{run_id}:order:1"  # the step was entered by the run's first fact
    assert receiver.seen == [(key, 1), (key, 2)]  # the retry: same key, next attempt
    assert receiver.effects == {key: 1}
    kinds = [f.type for f in app.service.journal(app.actor(), run_id)]
    assert kinds == ["RunStarted", "StepFailed", "TimerFired", "StepSucceeded"]


@pytest.mark.slow
def test_a_worker_killed_mid_call_is_replaced_and_the_effect_happens_once(
    app: bootstrap.App, settings: Settings, tmp_path: Path
) -> None:
    receiver = serve("hang")
    effects_db = tmp_path / "effects.db"
    crash_actions.prepare(str(effects_db))
    env = fault_load.worker_env(settings, effects_db)
    log = tmp_path / "worker.log"
    run_id = app.service.start_run(app.actor(), StartRequest("stub-order", {"url": receiver.url}))
    victim = fault_load.start_worker(env, log, lease_s="1")
    successor = None
    try:
        assert receiver.first_arrived.wait(30), log.read_text(errors="replace")[-2000:]
        victim.send_signal(signal.SIGKILL)  # after the effect, before any answer
        victim.wait()
        receiver.release.set()
        successor = fault_load.start_worker(env, log, lease_s="1")
        ended = app.service.wait_until_ended(app.actor(), run_id, 60)
    finally:
        for proc in (victim, successor):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        close(receiver)
    assert ended, log.read_text(errors="replace")[-2000:]
    key = f"{run_id}:order:1"
    # the lease ran out and the successor ran the same attempt again: the same key
    assert receiver.seen == [(key, 1), (key, 1)]
    assert receiver.effects == {key: 1}
