"""``andon bench``: NCR-lite runs through the real runtime, next to the raw commit ceiling.

Both are measured on the same database file with the same ``synchronous`` setting, so the
engine/ceiling ratio is meaningful on a noisy machine where absolute numbers are not.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.errors import AndonError
from andon.governance.identity import Actor
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.store.sqlite import SqliteStore
from andon.tools.bench.ceiling import CommitProbe, measure_ceiling

TEMPLATE = """
id: ncr-lite
version: 1
title: NCR-lite benchmark workload
roles: [QE]
input:
  type: object
  required: [part, lot, severity, qty, approval]
  properties:
    part: {type: string}
    lot: {type: string}
    severity: {type: integer}
    qty: {type: integer}
    approval: {type: boolean}
steps:
  - id: validate
    kind: action
    action: bench.validate
    input: {part: input.part, lot: input.lot}
  - id: notify
    kind: action
    action: bench.notify
    input: {lot: input.lot, qty: input.qty}
  - id: route
    kind: decide
    rules:
      - {id: contain, when: "input.severity >= 3", then: {path: contain}}
    default: {path: review}
  - id: approve
    kind: approval
    when: input.approval
    roles: [QE]
  - id: done
    kind: end
    outcome: closed
"""


# A latency run (no approval) is five durable workflow steps: the start (input checked
# against the contract), validate, notify, route and end. They take three commits: the
# start, validate's outcome, and notify's outcome together with route and end, which the
# engine decides inline in the same transaction.
LATENCY_STEPS = 5
BENCH_QE = "bench-qe"
LATENCY_COMMITS = 3


@dataclass(frozen=True, slots=True)
class BenchConfig:
    runs: int = 2000
    latency_runs: int = 500
    database: Path | None = None
    synchronous: str = "FULL"
    start_batch: int = 50
    in_flight: int = 400
    ceiling_seconds: float = 3.0


def run_bench(cfg: BenchConfig, progress: Console | None = None) -> dict[str, JsonValue]:
    """Run the benchmark; return the figures as a flat JSON object."""
    workdir = Path(tempfile.mkdtemp(prefix=".andon-bench-", dir=Path.cwd()))
    db_path = cfg.database or workdir / "bench.db"
    try:
        app = bootstrap.build(
            Settings(store=StoreSettings(f"sqlite:///{db_path}", cfg.synchronous))
        )
        try:
            return _measure(app, db_path, cfg, progress or Console(stderr=True))
        finally:
            app.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    app: bootstrap.App, db_path: Path, cfg: BenchConfig, console: Console
) -> dict[str, JsonValue]:
    store = app.service.store
    assert isinstance(store, SqliteStore), "andon bench measures SQLite so far"
    effects: list[str] = []
    app.actions.register("bench.validate", lambda call: {"ok": True, "lot": call.input["lot"]})
    app.actions.register("bench.notify", lambda call: _record(effects, call))
    service = app.service
    admin = app.actor()
    service.publish_template(admin, TEMPLATE, "ncr-lite.yaml")
    app.directory.create_user(admin, BENCH_QE, "Bench quality engineer")
    app.directory.grant(admin, BENCH_QE, "QE")
    qe = app.actor(BENCH_QE)
    ceiling = measure_ceiling(store, cfg.ceiling_seconds)

    stop = threading.Event()
    worker = app.worker(WorkerSettings(batch=128, lease_s=60, poll_s=0.05, threads=1))
    worker_thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    worker_thread.start()
    try:
        latencies, commit_latencies = _latency_phase(app, admin, cfg.latency_runs, console)
        throughput = _throughput_phase(app, admin, qe, cfg, console)
    finally:
        stop.set()
        service.wake()
        worker_thread.join(timeout=10)
        worker.close()
    run_p50 = _percentile(latencies, 50)
    run_p99 = _percentile(latencies, 99)
    commit_p50 = _percentile(commit_latencies, 50)
    commit_p99 = _percentile(commit_latencies, 99)
    transitions = float(throughput["transitions_per_s"])
    return {
        "backend": "sqlite",
        "synchronous": store.synchronous,
        "runs": cfg.runs,
        "runs_per_s": round(float(throughput["runs_per_s"]), 1),
        "transitions_per_s": round(transitions, 1),
        "facts_per_run": throughput["facts_per_run"],
        "ceiling_commits_per_s": round(ceiling["commits_per_s"], 1),
        "ratio": round(transitions / ceiling["commits_per_s"], 3),
        "latency_runs": cfg.latency_runs,
        "p50_ms": round(run_p50, 3),
        "p99_ms": round(run_p99, 3),
        "ceiling_p50_ms": round(ceiling["p50_ms"], 3),
        "ceiling_p99_ms": round(ceiling["p99_ms"], 3),
        "commit_p50_ms": round(commit_p50, 3),
        "commit_p99_ms": round(commit_p99, 3),
        "steps_per_latency_run": LATENCY_STEPS,
        "commits_per_latency_run": LATENCY_COMMITS,
        "p50_per_step_vs_commit": round(run_p50 / LATENCY_STEPS / commit_p50, 2),
        "p99_per_step_vs_commit": round(run_p99 / LATENCY_STEPS / commit_p99, 2),
        "p50_per_commit_vs_commit": round(run_p50 / LATENCY_COMMITS / commit_p50, 2),
        "p99_per_commit_vs_commit": round(run_p99 / LATENCY_COMMITS / commit_p99, 2),
        "p50_per_step_vs_ceiling": round(run_p50 / LATENCY_STEPS / ceiling["p50_ms"], 2),
        "p99_per_step_vs_ceiling": round(run_p99 / LATENCY_STEPS / ceiling["p99_ms"], 2),
        "effects": len(set(effects)),  # applied once per idempotency key
        "database": str(db_path),
    }


def _record(effects: list[str], call: ActionCall) -> JsonValue:
    effects.append(call.idempotency_key)
    return {"notified": True}


def _latency_phase(
    app: bootstrap.App, starter: Actor, count: int, console: Console
) -> tuple[list[float], list[float]]:
    """Sequential runs without the approval, start to end as the starter sees it; after
    each, one raw commit on the same file, so that the two are compared on equal terms."""
    service = app.service
    runs: list[float] = []
    commits: list[float] = []
    assert isinstance(service.store, SqliteStore)
    probe = CommitProbe(service.store)
    try:
        with _progress(console) as bar:
            task = bar.add_task("latency", total=count)
            for index in range(count):
                started = time.perf_counter()
                run_id = service.start_run(starter, _request(index, approval=False))
                if not service.wait_until_ended(starter, run_id, 30.0):
                    raise AndonError(f"benchmark run {run_id} did not end within 30 s")
                runs.append((time.perf_counter() - started) * 1000)
                commits.append(probe.commit_ms())
                bar.advance(task)
    finally:
        probe.close()
    return runs, commits


def _throughput_phase(
    app: bootstrap.App, starter: Actor, approver: Actor, cfg: BenchConfig, console: Console
) -> dict[str, float]:
    """Many concurrent runs with the approval, decided by an automated approver."""
    service = app.service
    with service.store.reader() as unscoped:
        reader = unscoped.scoped(starter.tenant_id)
        facts_before = reader.fact_count()
        done_before = reader.count_runs_by_status().get("completed", 0)
    stop = threading.Event()
    approving = threading.Thread(target=_approve_loop, args=(app, approver, stop), daemon=True)
    started = time.perf_counter()
    approving.start()
    launched = 0
    done = 0
    with _progress(console) as bar:
        task = bar.add_task("throughput", total=cfg.runs)
        while done < cfg.runs:
            if launched < cfg.runs and launched - done < cfg.in_flight:
                size = min(cfg.start_batch, cfg.runs - launched)
                batch = [_request(launched + i, approval=True) for i in range(size)]
                service.start_runs(starter, batch)
                launched += size
            else:
                service.wait_for_work(0.02)
            with service.store.reader() as unscoped:
                counts = unscoped.scoped(starter.tenant_id).count_runs_by_status()
            done = counts.get("completed", 0) - done_before
            bar.update(task, completed=done)
    elapsed = time.perf_counter() - started
    stop.set()
    approving.join(timeout=10)
    with service.store.reader() as unscoped:
        facts = unscoped.scoped(starter.tenant_id).fact_count() - facts_before
    return {
        "runs_per_s": cfg.runs / elapsed,
        "transitions_per_s": facts / elapsed,
        "facts_per_run": facts / cfg.runs,
    }


def _approve_loop(app: bootstrap.App, approver: Actor, stop: threading.Event) -> None:
    service = app.service
    while not stop.is_set():
        open_tasks = service.tasks(approver, "open", None, 256)
        if not open_tasks:
            service.wait_for_work(0.01)
            continue
        service.decide_tasks([(approver, TaskDecision(t.task_id)) for t in open_tasks])


def _request(index: int, *, approval: bool) -> StartRequest:
    return StartRequest(
        "ncr-lite",
        {
            "part": "RC-4711-CAST",
            "lot": f"L{index:06d}",
            "severity": index % 5,
            "qty": 6,
            "approval": approval,
        },
    )


def _percentile(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index] if pct != 50 else statistics.median(ordered)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    )
