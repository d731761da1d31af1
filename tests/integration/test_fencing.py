"""A3: a worker paused (SIGSTOP) past its lease, then resumed, cannot commit over the worker
that took its work over: the late outcome is dropped (lease fencing), the step succeeds once.
The run's event arrives during the pause, before its wait and twice: it is taken once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import crash_actions
import pytest
from sqlalchemy import create_engine

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.runtime.service import StartRequest
from andon.testing import publish
from pg_support import fresh_database

FLOW = """
id: slow
version: 1
steps:
  - {id: work, kind: action, action: slow.effect}
  - {id: result, kind: wait, event: lab.result, key: "'L1'"}
  - {id: done, kind: end, outcome: closed}
"""


def _calls(effects: Path) -> list[str]:
    with closing(sqlite3.connect(effects)) as conn:
        return [str(k) for (k,) in conn.execute("SELECT key FROM calls ORDER BY at")]


@pytest.mark.slow
def test_a_paused_worker_cannot_commit_over_its_successor(tmp_path: Path) -> None:
    effects = tmp_path / "effects.db"
    crash_actions.prepare(str(effects))
    with fresh_database() as url:
        keys = {"signing_key": tmp_path / "signing-key", "secrets_key": tmp_path / "secrets-key"}
        app = bootstrap.build(Settings(store=StoreSettings(url), **keys))
        app.actions.load_modules(["crash_actions"])  # as the workers below (ANDON_ACTIONS)
        publish(app.service, app.actor(), FLOW)
        run_id = app.service.start_run(app.actor(), StartRequest("slow", {}))
        env = {
            **os.environ,
            "ANDON_DATABASE_URL": url,
            "ANDON_ACTIONS": "crash_actions",
            "ANDON_SIGNING_KEY": str(keys["signing_key"]),
            "ANDON_SECRETS_KEY": str(keys["secrets_key"]),
            "CRASH_EFFECTS_DB": str(effects),
            "SLOW_EFFECT_S": "1.5",
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
        }
        worker = [sys.executable, "-m", "andon.cli.main", "worker", "--lease", "1"]
        first = subprocess.Popen(worker, env=env, stderr=subprocess.DEVNULL)
        arrivals: list[tuple[int, bool]] = []
        try:
            deadline = time.monotonic() + 30
            while not _calls(effects) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _calls(effects), "the first worker never started the action"
            first.send_signal(signal.SIGSTOP)  # paused inside the action, holding a 1 s lease
            for _ in range(2):  # the answer comes early, and twice
                got = app.service.send_event(app.actor(), "lab.result", "L1", {}, event_id="r1")
                arrivals.append((got.reached, got.duplicate))
            second = subprocess.Popen(worker, env=env, stderr=subprocess.DEVNULL)
            try:
                while app.service.run(app.actor(), run_id).status != "completed":
                    assert time.monotonic() < deadline, "the second worker did not take over"
                    time.sleep(0.1)
            finally:
                second.terminate()
                second.wait(timeout=30)
            first.send_signal(signal.SIGCONT)  # it finishes its action and tries to commit
            time.sleep(3.0)
        finally:
            first.terminate()
            first.wait(timeout=30)
        journal = app.service.journal(app.actor(), run_id)
        succeeded = [f for f in journal if f.type == "StepSucceeded"]
        calls = _calls(effects)
        print(f"\ncalls={len(calls)} (same key: {len(set(calls)) == 1}) "
              f"successes in the journal={len(succeeded)}")  # fmt: skip
        assert len(calls) == 2 and len(set(calls)) == 1  # both ran it, under one key
        assert len(succeeded) == 1  # but only the live owner's outcome was committed
        assert succeeded[0].body["output"]["worker_pid"] == second.pid
        assert arrivals == [(0, False), (0, True)]  # kept, then acknowledged as a duplicate
        assert [f.body["event_id"] for f in journal if f.type == "EventReceived"] == ["r1"]
        seqs = [f.seq for f in journal]
        assert seqs == list(range(1, len(seqs) + 1))
        engine = create_engine(url)
        with engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
        engine.dispose()
        assert left == 0
        app.close()
