"""``andon bench --backend postgresql``: NCR-lite throughput with N worker processes on
PostgreSQL, next to the commit ceiling measured from the same number of clients.

The bench creates a fresh database on the server, runs ``andon worker`` processes against
it, drives runs and approvals from this process, and drops the database afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

import psycopg

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.errors import AndonError
from andon.runtime.service import TaskDecision
from andon.tools.bench import actions as bench_actions
from andon.tools.bench.ncr_lite import BENCH_QE, TEMPLATE, _request

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@dataclass(frozen=True, slots=True)
class PgBenchConfig:
    workers: int = 2
    runs: int = 2000
    in_flight: int = 400
    start_batch: int = 50
    ceiling_seconds: float = 3.0
    admin_dsn: str = ADMIN_DSN


def run_pg_bench(cfg: PgBenchConfig) -> dict[str, JsonValue]:
    name = f"andon_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(cfg.admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(cfg.admin_dsn, dbname=name)
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    user, host, port = info.get("user", "postgres"), info.get("host"), info.get("port", 5432)
    url = f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    try:
        ceiling = _ceiling(dsn, cfg.workers, cfg.ceiling_seconds)
        engine = _throughput(url, cfg)
    finally:
        with psycopg.connect(cfg.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    transitions = float(str(engine["transitions_per_s"]))
    commits = float(str(ceiling["ceiling_commits_per_s"]))
    return {
        "backend": "postgresql",
        "synchronous_commit": ceiling.pop("synchronous_commit"),
        "workers": cfg.workers,
        **engine,
        **ceiling,
        "ratio": round(transitions / commits, 3),
    }


def _ceiling(dsn: str, clients: int, seconds: float) -> dict[str, JsonValue]:
    """Single-row insert transactions from ``clients`` connections at once."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_ceiling (id BIGSERIAL PRIMARY KEY, body TEXT)")
        setting = conn.execute("SHOW synchronous_commit").fetchone()
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine = []
        with psycopg.connect(dsn) as conn:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                conn.execute("INSERT INTO bench_ceiling (body) VALUES ('ceiling probe')")
                conn.commit()
                mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {
        "ceiling_clients": clients,
        "ceiling_commits_per_s": round(len(latencies) / elapsed, 1),
        "ceiling_p50_ms": round(statistics.median(latencies), 3),
        "synchronous_commit": str(setting[0]) if setting else "unknown",
    }


def _throughput(url: str, cfg: PgBenchConfig) -> dict[str, JsonValue]:
    keys = Path(tempfile.mkdtemp(prefix="andon-bench-keys-"))
    settings = Settings(
        store=StoreSettings(url),
        signing_key=keys / "signing-key",
        secrets_key=keys / "secrets-key",
    )
    app = bootstrap.build(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    env.update(
        ANDON_DATABASE_URL=url,
        ANDON_ACTIONS="andon.tools.bench.actions",
        ANDON_SIGNING_KEY=str(keys / "signing-key"),
        ANDON_SECRETS_KEY=str(keys / "secrets-key"),
    )
    command = [sys.executable, "-m", "andon.cli.main", "worker", "--concurrency", "1"]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(cfg.workers)
    ]
    try:
        admin = app.actor()
        bench_actions.register(app.actions)  # what the workers load: publishing checks it
        app.service.publish_template(admin, TEMPLATE, "ncr-lite.yaml")
        app.directory.create_user(admin, BENCH_QE, "Bench quality engineer")
        app.directory.grant(admin, BENCH_QE, "QE")
        for proc in workers:  # the clock starts once every worker has started up
            _await_ready(proc)
        # People approve from another process, as they would through the API processes:
        # one Python process driving both starts and decisions would be the bottleneck.
        spawn = multiprocessing.get_context("spawn")
        ready, stop = spawn.Event(), spawn.Event()
        approver = spawn.Process(target=_approve, args=(settings, ready, stop), daemon=True)
        approver.start()
        if not ready.wait(60):
            raise AndonError("the bench approver did not start")
        started = time.perf_counter()
        launched = done = 0
        deadline = time.monotonic() + 600
        counted = 0.0
        while done < cfg.runs:
            if time.monotonic() > deadline:
                raise AndonError(f"only {done} of {cfg.runs} runs completed in 10 minutes")
            if launched < cfg.runs and launched - done < cfg.in_flight:
                size = min(cfg.start_batch, cfg.runs - launched)
                batch = [_request(launched + i, approval=True) for i in range(size)]
                app.service.start_runs(admin, batch)
                launched += size
            else:
                time.sleep(0.01)
            if time.monotonic() - counted >= 0.05:  # counting is a query: not every loop
                counted = time.monotonic()
                with app.service.store.reader() as reader:
                    done = reader.scoped("default").count_runs_by_status().get("completed", 0)
        elapsed = time.perf_counter() - started
        stop.set()
        approver.join(timeout=30)
        with app.service.store.reader() as reader:
            facts = reader.scoped("default").fact_count()
        return {
            "runs": cfg.runs,
            "runs_per_s": round(cfg.runs / elapsed, 1),
            "transitions_per_s": round(facts / elapsed, 1),
            "facts_per_run": round(facts / cfg.runs, 2),
        }
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=30)
        app.close()


def _await_ready(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a worker's "ready" line (start-up costs seconds of CPU on a small machine
    and is not throughput), then keep draining its error stream so it never blocks."""
    assert proc.stderr is not None
    stream = proc.stderr
    for line in stream:
        if b" ready: " in line:
            threading.Thread(target=stream.read, daemon=True).start()
            return
    raise AndonError(f"a bench worker exited before it was ready (exit code {proc.wait()})")


def _approve(settings: Settings, ready: Event, stop: Event) -> None:
    """The bench's approver process: decide every open task, in batches, until stopped."""
    app = bootstrap.build(settings)
    try:
        qe = app.actor(BENCH_QE)
        ready.set()
        while not stop.is_set():
            tasks = app.service.tasks(qe, "open", None, 256)
            if not tasks:
                time.sleep(0.02)
                continue
            app.service.decide_tasks([(qe, TaskDecision(t.task_id)) for t in tasks])
    finally:
        app.close()
