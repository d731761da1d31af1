"""``andon bench-dashboards``: the dashboard queries over a store of N completed runs.

A seeded generator (``andon.tools.bench.synthetic_runs``) drives NCR and purchase-requisition runs
through the real engine at three plants and bulk-writes the rows the runtime would have
written; then each dashboard query runs several times on a tenant-scoped reader, and the
bench reports the minimum and median milliseconds per query next to the 300 ms target.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import insert, text

from andon import analytics, bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.core.overlay import Overlay, resolve
from andon.errors import AndonError
from andon.runtime.directory import DEFAULT_TENANT
from andon.store import schema as s
from andon.store.sql import SqlStore
from andon.store.transaction import SqlReader
from andon.tools.bench import synthetic_runs
from andon.tools.demo import publish_reference
from andon.tools.demo.actions import DemoActions

TARGET_MS = 300.0
PLANTS = ("DE-STR", "US-GRR", "IE-COR")
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
CHUNK = 1000
"""Runs per generated chunk (one bulk insert per table)."""


@dataclass(frozen=True, slots=True)
class DashboardBenchConfig:
    runs: int = 100_000
    seed: int = 1
    backend: str = "sqlite"
    repeats: int = 5
    database: Path | None = None
    """A SQLite file to keep; when it already holds this bench's runs they are reused."""
    processes: int = 0
    """Generator processes; 0: one per CPU (at most 4)."""
    admin_dsn: str = ADMIN_DSN


def run_dashboard_bench(
    cfg: DashboardBenchConfig, progress: Console | None = None
) -> dict[str, JsonValue]:
    """Generate (or reuse) the store, time every dashboard query; a flat JSON result."""
    with _database(cfg) as url:
        app = bootstrap.build(Settings(store=StoreSettings(url, "OFF")))
        try:
            store = app.service.store
            existing = _existing(store)
            began = time.perf_counter()
            if existing == 0:
                _populate(app, cfg, progress)
                generated_s = round(time.perf_counter() - began, 1)
            elif existing != cfg.runs + synthetic_runs.parked(_shape(cfg)):
                raise AndonError(
                    f"{cfg.database} holds {existing} runs, not a store of {cfg.runs}: "
                    "use another --database"
                )
            else:
                generated_s = 0.0
            counts = _counts(store)
            timings = _time_queries(store, cfg.repeats)
        finally:
            app.close()
    result: dict[str, JsonValue] = {
        "backend": cfg.backend,
        "runs": cfg.runs,
        "seed": cfg.seed,
        "generated_s": generated_s,
        **counts,
        "repeats": cfg.repeats,
        "target_ms": TARGET_MS,
    }
    for name, (best, median, rows) in timings.items():
        result[f"{name}_min_ms"] = best
        result[f"{name}_median_ms"] = median
        result[f"{name}_size"] = rows
    result["slowest_median_ms"] = max(t[1] for t in timings.values())
    result["met"] = all(t[1] < TARGET_MS for t in timings.values())
    return result


# ---- the queries, as the web UI calls them ---------------------------------------------------

_Query = Callable[[SqlReader], object]
SCOPES = ("all", "plant", "30d")
"""Each dashboard over the whole store (the worst case), for one plant (a plant's own
dashboard) and over the last 30 days (what a dashboard opens with)."""


def queries(until: float) -> dict[str, _Query]:
    """The timed calls by name, ``<dashboard>_<scope>``; ``until`` is the newest end."""
    windows = {
        "all": analytics.Window(),
        "plant": analytics.Window(plant="US-GRR"),
        "30d": analytics.Window(since=until - 30 * synthetic_runs.DAY, until=until),
    }
    found: dict[str, _Query] = {}
    for scope in SCOPES:
        w = windows[scope]
        found[f"cycle_times_{scope}"] = partial(analytics.cycle_times, window=w)
        found[f"approval_latency_{scope}"] = partial(analytics.approval_latency, window=w)
        found[f"bottleneck_steps_{scope}"] = partial(analytics.bottleneck_steps, window=w)
        found[f"trends_{scope}"] = partial(analytics.trends, window=w)
        found[f"open_incidents_{scope}"] = partial(analytics.open_incidents, window=w)
    return found


def _time_queries(store: SqlStore, repeats: int) -> dict[str, tuple[float, float, int]]:
    with store.reader() as reader:
        newest = reader.conn.execute(
            text("SELECT MAX(created_at) FROM runs WHERE tenant_id = :t"), {"t": DEFAULT_TENANT}
        ).scalar()
    timings: dict[str, tuple[float, float, int]] = {}
    for name, query in queries(float(newest or 0.0)).items():
        samples: list[float] = []
        size = 0
        for _ in range(repeats):
            with store.reader() as unscoped:
                reader = unscoped.scoped(DEFAULT_TENANT)
                started = time.perf_counter()
                found = query(reader)
                samples.append((time.perf_counter() - started) * 1000)
            size = _size(found)
        timings[name] = (round(min(samples), 1), round(statistics.median(samples), 1), size)
    return timings


def _size(found: object) -> int:
    """Runs in a histogram, rows in a list."""
    if isinstance(found, analytics.Histogram):
        return found.total
    return len(found) if isinstance(found, list) else 0


# ---- the store ---------------------------------------------------------------------------


@contextmanager
def _database(cfg: DashboardBenchConfig) -> Iterator[str]:
    if cfg.backend == "postgresql":
        name = f"andon_dash_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(cfg.admin_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        info = psycopg.conninfo.conninfo_to_dict(cfg.admin_dsn)
        user, host = info.get("user", "postgres"), info.get("host", "127.0.0.1")
        try:
            yield f"postgresql+psycopg://{user}@{host}:{info.get('port', 5432)}/{name}"
        finally:
            with psycopg.connect(cfg.admin_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    if cfg.backend != "sqlite":
        raise AndonError(f"--backend must be sqlite or postgresql, not {cfg.backend!r}")
    if cfg.database is not None:
        yield f"sqlite:///{cfg.database.resolve()}"
        return
    workdir = Path(tempfile.mkdtemp(prefix=".andon-bench-dashboards-", dir=Path.cwd()))
    try:
        yield f"sqlite:///{(workdir / 'bench.db').resolve()}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _shape(cfg: DashboardBenchConfig) -> synthetic_runs.Shape:
    return synthetic_runs.Shape(runs=cfg.runs, seed=cfg.seed, tenant=DEFAULT_TENANT)


def _existing(store: SqlStore) -> int:
    with store.reader() as reader:
        return sum(reader.scoped(DEFAULT_TENANT).count_runs_by_status().values())


def _setups(app: bootstrap.App) -> dict[tuple[str, str], synthetic_runs.Setup]:
    # The demo's actions never run here, but the templates that name them only publish
    # where they are registered (ADR 0030).
    DemoActions(0, app.service.clock).register(app.actions)
    versions = publish_reference(app.service, app.actor(), Console(stderr=True, quiet=True))
    setups = {}
    with app.service.store.transaction() as unscoped:
        tx = unscoped.scoped(DEFAULT_TENANT)
        for template_id in (synthetic_runs.NCR, synthetic_runs.PR):
            row = tx.template(template_id, versions[template_id])
            assert row is not None
            template = app.service.templates.compile(DEFAULT_TENANT, row)
            for plant in PLANTS:
                found = tx.latest_overlay(template_id, plant)
                if found is None:
                    raise AndonError(f"no overlay of {template_id} for {plant} in templates/")
                overlay = Overlay(found.template_id, found.plant, found.params, found.digest)
                params = resolve(template, overlay)
                setups[template_id, plant] = synthetic_runs.Setup(row.source, found.digest, params)
    return setups


def _populate(app: bootstrap.App, cfg: DashboardBenchConfig, progress: Console | None) -> None:
    shape = _shape(cfg)
    setups = _setups(app)
    total = cfg.runs + synthetic_runs.parked(shape)
    spans = [(first, first + CHUNK) for first in range(0, total, CHUNK)]
    processes = cfg.processes or min(os.cpu_count() or 1, 4)
    store = app.service.store
    written = 0
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        work = [(shape, setups, first, stop) for first, stop in spans]
        for rows in pool.imap(_chunk, work):
            _write(store, rows)
            written += len(rows)
            if progress is not None:
                progress.print(f"generated {written:,}/{total:,} runs", end="\r")
    if progress is not None:
        progress.print()
    _analyze(store)


def _chunk(
    args: tuple[synthetic_runs.Shape, dict[tuple[str, str], synthetic_runs.Setup], int, int],
) -> synthetic_runs.Rows:
    return synthetic_runs.chunk(*args)


def _write(store: SqlStore, rows: synthetic_runs.Rows) -> None:
    tasks = list(rows.tasks.values())
    with store.transaction() as tx:
        conn = tx.conn
        raw = conn.connection.driver_connection
        if isinstance(raw, psycopg.Connection):
            _copy(raw, s.runs, rows.runs)
            _copy(raw, s.run_events, rows.events)
            _copy(raw, s.tasks, tasks)
            return
        conn.execute(insert(s.runs), rows.runs)
        conn.execute(insert(s.run_events), rows.events)
        if tasks:
            conn.execute(insert(s.tasks), tasks)


def _copy(conn: psycopg.Connection[object], table: SqlTable, rows: list[dict[str, object]]) -> None:
    names = [c.name for c in table.columns]
    columns = ", ".join(names)
    with conn.cursor() as cursor, cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[n] for n in names])


def _analyze(store: SqlStore) -> None:
    """Planner statistics (and, on PostgreSQL, the visibility map that index-only scans
    need), as autovacuum and ``ANALYZE`` keep them on a store that grew by itself."""
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM (ANALYZE) runs, run_events, tasks")
        return
    with store.transaction() as tx:
        tx.conn.exec_driver_sql("ANALYZE")


def _counts(store: SqlStore) -> dict[str, JsonValue]:
    with store.reader() as reader:
        found = reader.conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'completed'),"
                " (SELECT COUNT(*) FROM runs WHERE status = 'incident'),"
                " (SELECT COUNT(*) FROM run_events), (SELECT COUNT(*) FROM tasks)"
            )
        ).one()
    return {
        "completed_runs": int(found[0]),
        "open_incidents": int(found[1]),
        "journal_rows": int(found[2]),
        "task_rows": int(found[3]),
    }


def table(result: dict[str, JsonValue]) -> Table:
    """Milliseconds per query (min and median of the repeats) against the target."""
    out = Table(
        title=f"andon bench-dashboards ({result['runs']:,} completed runs, {result['backend']})",
        title_justify="left",
    )
    for column in ("query", "min ms", "median ms", "size", f"< {TARGET_MS:.0f} ms"):
        out.add_column(column, justify="left" if column == "query" else "right")
    for name in queries(0.0):
        median = float(str(result[f"{name}_median_ms"]))
        out.add_row(
            name,
            str(result[f"{name}_min_ms"]),
            str(median),
            str(result[f"{name}_size"]),
            "yes" if median < TARGET_MS else "NO",
        )
    return out
