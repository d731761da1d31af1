"""The grouped counts behind ``/metrics``, over every tenant's rows (each row names its
tenant): computed by the database from the tables the runtime writes anyway.

Histograms are bucketed in SQL: ``SUM(CASE WHEN d <= le THEN 1 ELSE 0 END)`` per bound is
the cumulative count Prometheus expects, so only one row per label set leaves the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)

from andon.store import schema as s

INCIDENT = '%"change":"incident"%'
"""Journal traces are canonical JSON (no spaces), so this matches an incident entry only."""


def _buckets(duration: ColumnElement[Any], bounds: Sequence[float]) -> list[ColumnElement[Any]]:
    """Cumulative counts of ``duration`` per bound (NULL counts nowhere)."""
    return [func.sum(case((duration <= bound, 1), else_=0)) for bound in bounds]


class MetricReads:
    """Installation-wide counts (``reader.installation_metrics``); ``bounds`` are the upper
    bounds of the histogram buckets, in seconds."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def runs(self, bounds: Sequence[float]) -> list[tuple[Any, ...]]:
        """(tenant, template, plant, status, outcome, runs, sum of durations, *buckets)."""
        r = s.runs
        duration = r.c.ended_at - r.c.created_at
        keys = (r.c.tenant_id, r.c.template_id, r.c.plant, r.c.status, r.c.outcome)
        counts = (func.count(), func.sum(duration), *_buckets(duration, bounds))
        return self._all(select(*keys, *counts).group_by(*keys))

    def tasks(self, now: float, bounds: Sequence[float]) -> list[tuple[Any, ...]]:
        """(tenant, template, step, plant, roles, status, tasks, escalations, SLA breaches,
        open and overdue, sum of open-to-close seconds, *buckets) over approval tasks."""
        t, r = s.tasks, s.runs
        closed = case((t.c.status == "closed", t.c.closed_at - t.c.created_at), else_=None)
        breached = and_(
            t.c.due_at.is_not(None),
            or_(t.c.outcome == "timeout", func.coalesce(t.c.closed_at, now) > t.c.due_at),
        )
        overdue = and_(t.c.status == "open", t.c.due_at.is_not(None), t.c.due_at < now)
        keys = (t.c.tenant_id, r.c.template_id, t.c.step, t.c.plant, t.c.roles, t.c.status)
        query = (
            select(
                *keys,
                func.count(),
                func.sum(t.c.level),
                func.sum(case((breached, 1), else_=0)),
                func.sum(case((overdue, 1), else_=0)),
                func.sum(closed),
                *_buckets(closed, bounds),
            )
            .select_from(t.join(r, and_(r.c.run_id == t.c.run_id, r.c.tenant_id == t.c.tenant_id)))
            .group_by(*keys)
        )
        return self._all(query)

    def action_durations(self, bounds: Sequence[float]) -> list[tuple[Any, ...]]:
        """(tenant, template, version, step, type, attempts, sum of seconds, *buckets): each
        action outcome against the fact before it in its run, which dispatched the attempt
        (exact while one branch runs; on parallel branches a lower bound)."""
        e, prev, r = s.run_events, s.run_events.alias("prev"), s.runs
        step = self._json_text(e.c.body, "step")
        duration = e.c.at - prev.c.at
        keys = (e.c.tenant_id, r.c.template_id, r.c.template_version, step, e.c.type)
        query = (
            select(*keys, func.count(), func.sum(duration), *_buckets(duration, bounds))
            .select_from(
                e.join(prev, and_(prev.c.run_id == e.c.run_id, prev.c.seq == e.c.seq - 1)).join(
                    r, r.c.run_id == e.c.run_id
                )
            )
            .where(e.c.type.in_(("StepSucceeded", "StepFailed")))
            .group_by(*keys)
        )
        return self._all(query)

    def notable_facts(self) -> list[tuple[Any, ...]]:
        """(tenant, template, version, type, body, trace) of failed attempts, policy
        violations and facts that raised an incident: the rare rows, parsed by the caller."""
        e, r = s.run_events, s.runs
        keys = (e.c.tenant_id, r.c.template_id, r.c.template_version, e.c.type)
        query = (
            select(*keys, e.c.body, e.c.trace)
            .select_from(e.join(r, r.c.run_id == e.c.run_id))
            .where(or_(e.c.type.in_(("StepFailed", "PolicyViolated")), e.c.trace.like(INCIDENT)))
        )
        return self._all(query)

    def outbox(self, now: float) -> list[tuple[Any, ...]]:
        """(tenant, kind, items, due and waiting, leased, oldest due time of those waiting)."""
        o = s.outbox
        leased = and_(o.c.lease_owner.is_not(None), o.c.lease_expires_at > now)
        waiting = and_(o.c.due_at <= now, ~leased)
        query = select(
            o.c.tenant_id,
            o.c.kind,
            func.count(),
            func.sum(case((waiting, 1), else_=0)),
            func.sum(case((leased, 1), else_=0)),
            func.min(case((waiting, o.c.due_at), else_=None)),
        ).group_by(o.c.tenant_id, o.c.kind)
        return self._all(query)

    def inbox(self) -> list[tuple[Any, ...]]:
        """(tenant, source, events, newest received_at, events that matched no run)."""
        i = s.inbox
        query = select(
            i.c.tenant_id,
            i.c.source,
            func.count(),
            func.max(i.c.received_at),
            func.sum(case((i.c.matched_runs == 0, 1), else_=0)),
        ).group_by(i.c.tenant_id, i.c.source)
        return self._all(query)

    def dead_letters(self) -> list[tuple[Any, ...]]:
        """(tenant, channel, stage, letters, letters still open)."""
        d = s.dead_letters
        keys = (d.c.tenant_id, d.c.channel, d.c.stage)
        still_open = func.sum(case((d.c.resolved_at.is_(None), 1), else_=0))
        return self._all(select(*keys, func.count(), still_open).group_by(*keys))

    def webhook_deliveries(self) -> list[tuple[Any, ...]]:
        """(tenant, event type, status, deliveries)."""
        w = s.webhook_deliveries
        keys = (w.c.tenant_id, w.c.event_type, w.c.status)
        return self._all(select(*keys, func.count()).group_by(*keys))

    def webhook_attempts(self) -> list[tuple[Any, ...]]:
        """(tenant, attempts answered 2xx, attempts that failed)."""
        a = s.webhook_attempts
        ok = and_(a.c.status.is_not(None), a.c.status >= 200, a.c.status < 300)
        query = select(
            a.c.tenant_id, func.sum(case((ok, 1), else_=0)), func.sum(case((ok, 0), else_=1))
        ).group_by(a.c.tenant_id)
        return self._all(query)

    def _json_text(self, column: ColumnElement[Any], key: str) -> ColumnElement[Any]:
        """``column`` (JSON text) -> its string member ``key``. The key is inlined, not
        bound: PostgreSQL only groups by an expression that repeats the selected one."""
        if self._conn.dialect.name == "postgresql":
            return func.json_extract_path_text(cast(column, JSON), literal_column(f"'{key}'"))
        return func.json_extract(column, literal_column(f"'$.{key}'"))

    def _all(self, query: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._conn.execute(query)]
