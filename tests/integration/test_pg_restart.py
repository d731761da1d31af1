"""A4: PostgreSQL restarted (fast shutdown) in the middle of a load run while events arrive
shuffled and partly twice: workers and the event intake reconnect, and every run completes
with no journal gap or duplicate, no step done twice and every event taken exactly once."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import crash_actions
import fault_load
import pytest

from andon import bootstrap
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import settings_for

RUNS = 400


def _restart_postgresql() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _completed(app: bootstrap.App) -> int:
    while True:
        try:
            runs = app.service.runs(app.actor(), "completed", limit=RUNS + 10)
            return len(runs)
        except Exception:  # the server is restarting: ask again
            time.sleep(0.5)


@pytest.mark.slow
def test_workers_ride_through_a_postgresql_restart(tmp_path: Path) -> None:
    effects = tmp_path / "effects.db"
    crash_actions.prepare(str(effects))
    with settings_for("postgresql", tmp_path) as settings:
        app = bootstrap.build(settings)
        admin = app.actor()
        app.actions.load_modules(["crash_actions"])  # as the workers (ANDON_ACTIONS)
        publish(app.service, admin, fault_load.TEMPLATE)
        run_ids = app.service.start_runs(
            admin, [StartRequest("fault-flow", fault_load.run_input(n)) for n in range(RUNS)]
        )
        env = fault_load.worker_env(settings, effects)
        log = tmp_path / "worker.log"
        workers = [fault_load.start_worker(env, log, lease_s="2") for _ in range(2)]
        storm = fault_load.EventStorm(settings, RUNS, seed=4, pace_s=0.015)
        storm.start()
        try:
            deadline = time.monotonic() + 300
            # Restart once a fifth of the runs is done, or half the events are out (a busy
            # machine slows the workers, not the storm): either way, mid-load.
            while _completed(app) < RUNS // 5 and storm.sent < RUNS and time.monotonic() < deadline:
                time.sleep(0.1)
            before = _completed(app)
            assert storm.is_alive(), "events should still be arriving at the restart"
            restarted = time.monotonic()
            _restart_postgresql()
            while _completed(app) <= before and time.monotonic() < deadline:
                time.sleep(0.1)
            recovery_s = time.monotonic() - restarted
            while _completed(app) < RUNS and time.monotonic() < deadline:
                time.sleep(0.5)
            after = _completed(app)
            storm.join(timeout=60)
        finally:
            for proc in workers:
                proc.terminate()
            for proc in workers:
                proc.wait(timeout=30)
            app.close()
        assert before < RUNS, "the restart came too late to matter"
        assert all(p.poll() is not None for p in workers)
        found = fault_load.audit_database(settings.store.url, run_ids, effects)
        print(
            f"\nrestart after {before} of {RUNS} runs; progress again {recovery_s:.1f} s after "
            f"the restart began; storm retries={storm.retries} sent={storm.sent}; "
            f"{found.summary()}"
        )
        assert after == RUNS, log.read_text(errors="replace")[-2000:]
        fault_load.assert_clean(found, storm)
