"""Every hot statement has an index to use on PostgreSQL (checked with EXPLAIN).

Sequential scans are switched off for the check: if the plan still reads a table from end
to end, no index serves the statement, and it would slow down as the table grows. The
plans are printed; docs/benchmarks.md lists which index serves which statement.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from andon import analytics, bootstrap
from andon.analytics import Window
from andon.analytics.sql import Statement
from andon.store import statements as q
from andon.store.postgres import PostgresStore
from andon.store.prepared import Prepared
from andon.store.sql import SqlStore
from andon.store.sqlite import SqliteStore
from andon.store.transaction import SqlReader
from backends import settings_for

RUN = {"b_tenant": "default", "run_id": "r1", "b_run_id": "r1"}
PREFIX = {"b_prefix": "", "b_prefix_len": 0}
HOT: dict[str, tuple[ClauseElement, dict[str, Any]]] = {
    "run for update": (q.SELECT_RUN_FOR_UPDATE, RUN),
    "lock a batch of runs": (q.LOCK_RUNS, {"b_tenant": "default", "b_run_ids": ["r1", "r2"]}),
    "update run (guarded)": (
        q.UPDATE_RUN,
        {**RUN, "b_revision": 1, "status": "running", "revision": 2},
    ),
    "journal of a run": (q.SELECT_JOURNAL, RUN),
    "events a run received": (q.SELECT_RECEIVED_EVENTS, RUN),
    "tenants with due work": (q.DUE_TENANTS, {"b_now": 1.0, **PREFIX}),
    "claim a tenant's due work": (
        q.CLAIM_OUTBOX,
        {"b_now": 1.0, "b_limit": 8, "b_owner": "w", "b_expires": 2.0, "b_tenant": "t", **PREFIX},
    ),
    "release a batch": (q.RELEASE_OUTBOX_ALL, {"b_ids": [1, 2], "b_owner": "w"}),
    "release one": (q.RELEASE_OUTBOX, {"b_id": 1, "b_owner": "w"}),
    "extend a lease": (q.EXTEND_LEASE, {"b_id": 1, "b_owner": "w", "b_expires": 2.0}),
    "any due": (q.ANY_DUE, {"b_now": 1.0, **PREFIX}),
    "cancel a timer": (q.DELETE_OUTBOX_KEY, {**RUN, "b_key": "timer:x:1"}),
    "end a run: timers": (q.DELETE_RUN_TIMERS, RUN),
    "end a run: subscriptions": (q.DELETE_RUN_SUBSCRIPTIONS, RUN),
    "end a run: tasks": (q.CANCEL_RUN_TASKS, {**RUN, "b_now": 1.0}),
    "task by id": (q.SELECT_TASK, {"b_tenant": "default", "task_id": "t1"}),
    "a batch of tasks": (
        q.SELECT_TASKS_BY_ID,
        {"b_tenant": "default", "b_task_ids": ["t1", "t2"]},
    ),
    "close a task": (
        q.CLOSE_TASK,
        {"b_tenant": "default", "b_task_id": "t1", "b_outcome": "approve", "b_now": 1.0},
    ),
    "runs waiting for an event": (
        q.SELECT_SUBSCRIBERS,
        {"b_tenant": "default", "event_type": "lab.result", "key": "L1"},
    ),
    "events kept for a wait": (
        q.SELECT_EARLY_EVENTS,
        {"b_tenant": "default", "event_type": "lab.result", "key": "L1", "since": 1.0},
    ),
    "count an inbox match": (
        q.COUNT_INBOX_MATCH,
        {"b_tenant": "default", "b_source": "mqtt", "b_event_id": "e1"},
    ),
    "latest template version": (
        q.LATEST_TEMPLATE_VERSION,
        {"b_tenant": "default", "template_id": "ncr"},
    ),
    "outbound webhook probe": (q.ANY_SUBSCRIPTION, {"b_tenant": "default"}),
}


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with settings_for("postgresql", tmp_path_factory.mktemp("plans")) as settings:
        bootstrap.build(settings).close()  # migrated: every index in place
        url = settings.store.url.replace("postgresql+psycopg://", "postgresql://")
        yield url


@pytest.mark.parametrize("name", sorted(HOT))
def test_a_hot_statement_reads_through_an_index(dsn: str, name: str) -> None:
    statement, params = HOT[name]
    prepared = Prepared(statement, postgresql.psycopg.dialect())
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        rows = conn.execute(f"EXPLAIN {prepared.sql}", prepared.values(params)).fetchall()
        conn.rollback()
    plan = "\n".join(str(row[0]) for row in rows)
    print(f"\n-- {name}\n{plan}")
    assert "Seq Scan" not in plan, f"{name} scans a whole table:\n{plan}"


# ---- dashboard queries (andon.analytics) ------------------------------------------------------
#
# A dashboard builds its statements from the window, so they are taken as the dashboards
# compile them (every statement, run or not) on an empty, migrated store of each backend.
# On SQLite a plan must not SCAN a table either (SEARCH uses an index; a SCAN of a subquery's
# result is fine).

WINDOWS = {
    "everything": Window(),
    "one plant and template, a month": Window(
        since=1.7e9, until=1.7e9 + 30 * 86_400, template_id="supplier-ncr", plant="DE-STR"
    ),
}
DASHBOARDS: dict[str, Callable[[SqlReader, Window], object]] = {
    "cycle times": analytics.cycle_times,
    "approval latency": analytics.approval_latency,
    "bottleneck steps": analytics.bottleneck_steps,
    "trends": analytics.trends,
    "open incidents": analytics.open_incidents,
}
TABLES = ("runs", "run_events", "tasks", "templates")


def _dashboard_statements(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, Any]]:
    """(dashboard and window, SQL, parameters) of every statement the dashboards compile."""
    found: list[tuple[str, str, Any]] = []
    label = [""]
    original = Statement.__init__

    def record(self: Statement, reader: SqlReader, query: ClauseElement) -> None:
        original(self, reader, query)
        params = {**self._defaults}
        args = tuple(params[n] for n in self._order) if self._order is not None else params
        found.append((label[0], self._sql, args))

    monkeypatch.setattr(Statement, "__init__", record)
    with store.reader() as unscoped:
        reader = unscoped.scoped("default")
        for dashboard, call in DASHBOARDS.items():
            for window_name, window in WINDOWS.items():
                label[0] = f"{dashboard}, {window_name}"
                call(reader, window)
    return found


def test_every_dashboard_statement_reads_through_an_index_on_postgresql(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(dsn)
    try:
        statements = _dashboard_statements(store, monkeypatch)
    finally:
        store.close()
    assert len(statements) >= 2 * len(DASHBOARDS)
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        for name, sql, params in statements:
            rows = conn.execute(f"EXPLAIN {sql}", params).fetchall()  # type: ignore[call-overload]
            plan = "\n".join(str(row[0]) for row in rows)
            print(f"\n-- {name}\n{sql}\n{plan}")
            assert "Seq Scan" not in plan, f"{name} scans a whole table:\n{sql}\n{plan}"
        conn.rollback()


def test_every_dashboard_statement_searches_an_index_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "plans.db")
    try:
        statements = _dashboard_statements(store, monkeypatch)
        conn = store.raw_connection()
        for name, sql, params in statements:
            plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            print(f"\n-- {name}\n{sql}\n" + "\n".join(plan))
            scans = [line for line in plan if line.split(" ")[:2] in (["SCAN", t] for t in TABLES)]
            assert not scans, f"{name} scans a whole table:\n{sql}\n{plan}"
        conn.close()
    finally:
        store.close()
