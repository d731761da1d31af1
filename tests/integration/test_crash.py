"""A1/A2/B1/C1/C2: SIGKILL workers at random points while runs execute and their events
arrive shuffled and partly twice; every run completes.

On PostgreSQL 5,000 runs execute across 4 worker processes and a random one is killed (and
replaced) every one to three seconds; on SQLite 200 runs, one worker process at a time.

Asserts, with the counts printed: no run lost; journal seqs contiguous (none duplicated or
missing); hash chains intact; no step succeeded twice; each wait received exactly one event
and every distinct event reached exactly one run; every duplicate delivery acknowledged and
ignored; every action call carried a well-formed idempotency key and every journaled
success has its effect under the same key.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import crash_actions
import fault_load
import pytest
from sqlalchemy import Engine, create_engine

from andon import bootstrap
from andon.config import Settings
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import settings_for


@dataclass(frozen=True)
class Load:
    settings: Settings
    runs: int
    workers: int
    pause_s: tuple[float, float]
    """How long the workers run between two kills."""


@pytest.fixture(params=["sqlite", "postgresql"])
def load(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Load]:
    with settings_for(request.param, tmp_path) as settings:
        if request.param == "sqlite":
            yield Load(settings, runs=200, workers=1, pause_s=(0.6, 1.6))
        else:
            yield Load(settings, runs=5000, workers=4, pause_s=(1.0, 3.0))


def _completed(engine: Engine) -> int:
    while True:
        try:
            with engine.connect() as conn:
                found = conn.exec_driver_sql("SELECT count(*) FROM runs WHERE status='completed'")
                return int(found.scalar_one())
        except Exception:  # SQLite busy for a moment: ask again
            time.sleep(0.1)


@pytest.mark.slow
def test_killed_workers_lose_nothing_and_duplicate_no_transition(
    tmp_path: Path, load: Load
) -> None:
    effects_db = tmp_path / "effects.db"
    crash_actions.prepare(str(effects_db))
    app = bootstrap.build(load.settings)
    app.actions.load_modules(["crash_actions"])  # as the workers (ANDON_ACTIONS)
    admin = app.actor()
    publish(app.service, admin, fault_load.TEMPLATE, "fault-flow.yaml")
    run_ids: list[str] = []
    for first in range(0, load.runs, 500):
        batch = range(first, min(first + 500, load.runs))
        run_ids += app.service.start_runs(
            admin, [StartRequest("fault-flow", fault_load.run_input(n)) for n in batch]
        )
    app.close()

    env = fault_load.worker_env(load.settings, effects_db)
    log = tmp_path / "worker.log"
    engine = create_engine(load.settings.store.url)
    storm = fault_load.EventStorm(load.settings, load.runs, seed=20261126)
    rng = random.Random(20261125)
    kills = 0
    started = time.monotonic()
    deadline = started + 900
    running = [fault_load.start_worker(env, log) for _ in range(load.workers - 1)]
    storm.start()
    try:
        while _completed(engine) < load.runs and time.monotonic() < deadline:
            running.append(fault_load.start_worker(env, log))
            time.sleep(rng.uniform(*load.pause_s))  # start-up takes ~0.5 s; kill after
            victim = running.pop(rng.randrange(len(running)))
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            if kills >= 25 and not storm.is_alive():
                break
        running.append(fault_load.start_worker(env, log))
        while _completed(engine) < load.runs and time.monotonic() < deadline:
            time.sleep(0.2)
        storm.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            proc.wait(timeout=30)
        engine.dispose()
    elapsed = time.monotonic() - started
    tail = log.read_text(errors="replace")[-2000:]
    assert kills >= 5
    assert not storm.is_alive(), f"events still being sent after {elapsed:.0f} s"
    found = fault_load.audit_database(load.settings.store.url, run_ids, effects_db)
    print(
        f"\n{load.settings.store.backend}: workers={load.workers} kills={kills} "
        f"elapsed={elapsed:.0f}s events_sent={storm.sent} "
        f"duplicates_acknowledged={storm.duplicates_acknowledged} {found.summary()}"
    )
    assert found.completed == found.runs, tail
    fault_load.assert_clean(found, storm)


def test_the_storm_shuffles_and_duplicates_every_runs_events() -> None:
    storm = fault_load.EventStorm(Settings(), runs=100, seed=1)
    deliveries = storm.deliveries()
    distinct = set(deliveries)
    assert len(distinct) == 200 and len(deliveries) == 220
    order = [d[2] for d in deliveries]
    signed_first = sum(
        order.index(f"lab.signed:{n}") < order.index(f"lab.result:{n}") for n in range(100)
    )
    assert 30 < signed_first < 70  # about half the runs get their events the wrong way round
    for item in distinct:  # a duplicate always follows its original
        places = [i for i, d in enumerate(deliveries) if d == item]
        assert places == sorted(places)
