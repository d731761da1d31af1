"""A1/A2: SIGKILL workers at random points while 200 runs execute; every run completes.
On SQLite one worker process at a time is killed; on PostgreSQL three run at once and a
random one is killed every cycle (SKIP LOCKED claims, run rows locked per fact).

Asserts: all runs completed; journal seqs contiguous (none duplicated or missing); hash
chains intact; no step succeeded twice; every action call carried a well-formed
idempotency key and every journaled success has its effect under the same key.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import crash_actions
import pytest
from sqlalchemy import Engine, create_engine

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.governance import audit
from andon.runtime.service import StartRequest
from pg_support import fresh_database

RUNS = 200
TEMPLATE = """
id: crash-flow
version: 1
input:
  type: object
  required: [n]
  properties: {n: {type: integer}}
steps:
  - {id: a, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - {id: b, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - id: route
    kind: decide
    rules:
      - {id: even, when: "input.n % 2 == 0", then: {even: true}, next: c}
    default: {even: false}
    next: d
  - {id: c, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms}, next: pause}
  - {id: d, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms}, next: pause}
  - {id: pause, kind: timer, duration: 20ms}
  - {id: f, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - {id: done, kind: end, outcome: closed}
"""
KEY = re.compile(r"(?P<run>[0-9a-f]{16}):(?P<step>[a-z_]+):(?P<attempt>\d+)")


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "andon.cli.main", "worker", "--lease", "1", "--batch", "8"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def _completed(engine: Engine) -> int:
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT count(*) FROM runs WHERE status='completed'")
        return int(found.scalar_one())


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """(URL, worker processes at once) for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'andon.db'}", 1
        return
    with fresh_database() as url:
        yield url, 3


@pytest.mark.slow
def test_killed_workers_lose_nothing_and_duplicate_no_transition(
    tmp_path: Path, database: tuple[str, int]
) -> None:
    url, parallel = database
    engine = create_engine(url)
    effects_db = tmp_path / "effects.db"
    crash_actions.prepare(str(effects_db))
    os.environ["CRASH_EFFECTS_DB"] = str(effects_db)
    keys = {"signing_key": tmp_path / "signing-key", "secrets_key": tmp_path / "secrets-key"}
    app = bootstrap.build(Settings(store=StoreSettings(url), **keys))
    app.service.publish_template(app.actor(), TEMPLATE, "crash-flow.yaml")
    run_ids = app.service.start_runs(
        app.actor(), [StartRequest("crash-flow", {"n": i}) for i in range(RUNS)]
    )
    app.close()

    env = {
        **os.environ,
        "ANDON_DATABASE_URL": url,
        "ANDON_SIGNING_KEY": str(keys["signing_key"]),
        "ANDON_SECRETS_KEY": str(keys["secrets_key"]),
        "ANDON_ACTIONS": "crash_actions",
        "CRASH_EFFECTS_DB": str(effects_db),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }
    rng = random.Random(20261125)
    kills = 0
    deadline = time.monotonic() + 240
    running = [_worker(env, tmp_path / "worker.log") for _ in range(parallel - 1)]
    while _completed(engine) < RUNS and kills < 25 and time.monotonic() < deadline:
        running.append(_worker(env, tmp_path / "worker.log"))
        time.sleep(rng.uniform(0.6, 1.6))  # start-up takes ~0.5 s; kill somewhere after
        victim = running.pop(rng.randrange(len(running)))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
    running.append(_worker(env, tmp_path / "worker.log"))
    try:
        while _completed(engine) < RUNS and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            proc.wait(timeout=30)
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert _completed(engine) == RUNS, log[-2000:]
    assert kills >= 5

    with engine.connect() as conn:
        journal = conn.exec_driver_sql(
            "SELECT run_id, seq, type, body, trace, actor, at, hash FROM run_events "
            "ORDER BY run_id, seq"
        ).all()
    engine.dispose()
    by_run: dict[str, list[tuple[object, ...]]] = {}
    for row in journal:
        by_run.setdefault(str(row[0]), []).append(row)
    assert sorted(by_run) == sorted(run_ids)
    successes: Counter[tuple[str, str]] = Counter()
    success_keys = set()
    for run_id, rows in by_run.items():
        seqs = [int(r[1]) for r in rows]
        assert seqs == list(range(1, len(seqs) + 1)), f"seq gap or duplicate in {run_id}"
        records = [
            (
                int(r[1]),
                audit.journal_record(
                    "default",
                    run_id,
                    int(r[1]),
                    str(r[2]),
                    json.loads(str(r[3])),
                    json.loads(str(r[4])),
                    str(r[5]),
                    float(str(r[6])),
                ),
                str(r[7]),
            )
            for r in rows
        ]
        assert audit.verify(records) is None, f"hash chain broken in {run_id}"
        for r in rows:
            if r[2] == "StepSucceeded":
                body = json.loads(str(r[3]))
                successes[(run_id, body["step"])] += 1
                success_keys.add(f"{run_id}:{body['step']}:{body['attempt']}")
    assert all(count == 1 for count in successes.values()), "a step succeeded twice"
    assert len(successes) == RUNS * 4  # a, b, c|d, f

    with closing(sqlite3.connect(effects_db)) as effects:
        calls = [str(k) for (k,) in effects.execute("SELECT key FROM calls")]
        deduped = {str(k) for (k,) in effects.execute("SELECT key FROM effects")}
    assert calls and all(KEY.fullmatch(k) for k in calls), "an effect lacks its idempotency key"
    assert {KEY.fullmatch(k)["run"] for k in calls} == set(run_ids)  # type: ignore[index]
    assert success_keys <= deduped, "a journaled success has no effect under its key"
    assert len(deduped) == len(set(calls))
    # At-least-once: re-deliveries after kills reuse the same key, never a new one.
    redelivered = sum(1 for n in Counter(calls).values() if n > 1)
    print(
        f"{url.split(':')[0]}: kills={kills} runs={RUNS} lost=0 seq_gaps=0 double_steps=0 "
        f"calls={len(calls)} keys={len(deduped)} redelivered={redelivered}"
    )
