"""The dashboard queries: read straight from the runs, tasks and journal of one tenant.

Every statement is bound to ``reader.tenant`` and reads through an index made for it
(``store/schema.py``, "dashboard indexes"). Counts are computed in SQL. Percentiles are
exact, interpolating linearly between the two nearest ranks (as PostgreSQL's
``percentile_cont``), over the durations of each group fetched as one column and sorted
here: SQLite has no percentile function, and sorting a column of floats in Python costs
less than making SQLite sort rows (docs/adr/0018-analytics-queries.md).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Integer,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)

from andon.analytics import visits
from andon.analytics.model import Histogram, IncidentRow, LatencyRow, StepRow, TrendRow, Window
from andon.analytics.sql import (
    Sites,
    Statement,
    alongside,
    between,
    facts,
    percentile,
    plant_filters,
    run_filters,
    task_template,
)
from andon.errors import InputError
from andon.store import schema as s
from andon.store.transaction import SqlReader

HOUR = 3600.0
BOUNDS_H = (1.0, 4.0, 8.0, 24.0, 48.0, 72.0, 120.0, 168.0, 336.0, 720.0, math.inf)
"""Cycle time buckets: up to 1 h, 4 h, a shift, a day, 2, 3 and 5 days, 1, 2 and 4 weeks."""
ORIGIN = 345_600.0
"""Monday 1970-01-05 00:00 UTC: trend buckets count from here (weekly ones start Mondays)."""
MAX_BUCKETS = 20_000


def cycle_times(reader: SqlReader, window: Window, *, sites: Sites = None) -> Histogram:
    """Start-to-end time, in hours, of the runs completed in the window. A bucket counts
    the runs above the previous bound and up to its own."""
    r = s.runs
    query = select(r.c.ended_at - r.c.created_at).where(
        r.c.tenant_id == reader.tenant,
        r.c.status == "completed",
        *between(r.c.ended_at, window),
        *run_filters(r, window, sites),
    )
    hours = sorted(seconds / HOUR for seconds in Statement(reader, query).floats())
    upto = [bisect_right(hours, bound) for bound in BOUNDS_H]
    counts = (upto[0], *(b - a for a, b in pairwise(upto)))
    return Histogram(BOUNDS_H, counts, len(hours), percentile(hours, 50), percentile(hours, 90))


def approval_latency(reader: SqlReader, window: Window, *, sites: Sites = None) -> list[LatencyRow]:
    """Time from a task's opening to its decision, per candidate role and plant, for the
    tasks decided in the window; a task offered to several roles counts for each of them.
    Tasks closed by their timeout or cancelled with their run are not decisions."""
    t = s.tasks
    where = [
        t.c.tenant_id == reader.tenant,
        t.c.status == "closed",
        t.c.outcome != "timeout",
        *between(t.c.closed_at, window),
        *plant_filters(t.c.plant, window, sites),
        *task_template(reader, window),
    ]
    groups = select(t.c.step, t.c.roles, t.c.plant).where(*where)
    groups = groups.group_by(t.c.step, t.c.roles, t.c.plant)
    one = Statement(
        reader,
        select(t.c.closed_at - t.c.created_at).where(
            *where,
            t.c.step == bindparam("g_step", ""),
            t.c.roles == bindparam("g_roles", ""),
            t.c.plant == bindparam("g_plant", ""),
        ),
    )
    per_role: dict[tuple[str, str], list[float]] = {}
    for step, roles, plant in Statement(reader, groups).rows():
        seconds = one.floats(g_step=step, g_roles=roles, g_plant=plant)
        for role in _roles(str(roles)):
            per_role.setdefault((role, str(plant)), []).extend(seconds)
    rows = []
    for (role, plant), values in sorted(per_role.items()):
        values.sort()
        rows.append(
            LatencyRow(role, plant, len(values), percentile(values, 50), percentile(values, 90))
        )
    return rows


def bottleneck_steps(
    reader: SqlReader, window: Window, limit: int = 10, *, sites: Sites = None
) -> list[StepRow]:
    """The steps runs spent most time in, over the visits that ended in the window:
    approvals (task opened to closed) and waits for events or timers (begun to ended).
    Ordered by the total time (visits x mean), largest first. The two kinds are read at
    the same time, on a second connection for the approvals."""
    with alongside(reader) as other, ThreadPoolExecutor(1) as pool:
        approvals = pool.submit(lambda: list(visits.approvals(other, window, sites)))
        found = [*visits.waits(reader, window, sites), *approvals.result()]
    rows = [StepRow(v.template_id, v.step, v.count, v.total_s / v.count, v.p90_s) for v in found]
    rows.sort(key=lambda row: (-row.count * row.mean_s, row.template_id, row.step))
    return rows[: max(0, limit)]


def trends(
    reader: SqlReader, window: Window, bucket_s: int = 86_400, *, sites: Sites = None
) -> list[TrendRow]:
    """Per time bucket: runs started and completed, SLA breaches (approval due times and
    wait timeouts that passed), escalations, incidents (facts that parked a run) and
    failed action attempts. Buckets are ``bucket_s`` long, counted from Monday 1970-01-05
    00:00 UTC; every bucket from the first to the last is listed, empty ones with zeros."""
    if isinstance(bucket_s, bool) or not isinstance(bucket_s, int) or bucket_s < 60:
        raise InputError("bucket_s must be a whole number of seconds, at least 60")
    r, e = s.runs, s.run_events
    source, conditions = facts(e, window, sites)

    def journal(other: SqlReader) -> list[Mapping[int, int]]:
        found = []
        for signal in (s.sla_breached, s.escalated, s.parked_run, s.step_failed):
            where = [e.c.tenant_id == reader.tenant, signal(e), *conditions]
            found.append(_per_bucket(other, e.c.at, bucket_s, window, where, source))
        return found

    runs = [r.c.tenant_id == reader.tenant, *run_filters(r, window, sites)]
    completed = [*runs, r.c.status == "completed"]
    with alongside(reader) as other, ThreadPoolExecutor(1) as pool:
        signals = pool.submit(journal, other)  # the journal on a second connection, meanwhile
        series = [
            _per_bucket(reader, r.c.created_at, bucket_s, window, runs),
            _per_bucket(reader, r.c.ended_at, bucket_s, window, completed),
            *signals.result(),
        ]
    seen = {b for counts in series for b in counts}
    first = min(seen, default=None) if window.since is None else _bucket(window.since, bucket_s)
    last = max(seen, default=None) if window.until is None else _last_bucket(window.until, bucket_s)
    if first is None or last is None or last < first:
        return []
    if last - first >= MAX_BUCKETS:
        raise InputError(f"the window spans more than {MAX_BUCKETS} buckets of {bucket_s} s")
    return [
        TrendRow(ORIGIN + b * bucket_s, *(counts.get(b, 0) for counts in series))
        for b in range(first, last + 1)
    ]


def open_incidents(
    reader: SqlReader, window: Window, limit: int = 50, *, sites: Sites = None
) -> list[IncidentRow]:
    """Runs parked in an incident now, longest parked first. ``since`` is when the fact
    that parked the run was journaled; the window bounds it."""
    r, e = s.runs, s.run_events
    parked_at = (
        select(func.max(e.c.at))
        .where(e.c.tenant_id == r.c.tenant_id, e.c.run_id == r.c.run_id, s.parked_run(e))
        .scalar_subquery()
    )
    since = func.coalesce(parked_at, r.c.updated_at).label("since")
    parked = (
        select(r.c.run_id, r.c.template_id, r.c.plant, since)
        .where(r.c.tenant_id == reader.tenant, r.c.status == "incident")
        .where(*run_filters(r, window, sites))
        .subquery()
    )
    query = (
        select(parked)
        .where(*between(parked.c.since, window))
        .order_by(parked.c.since, parked.c.run_id)
        .limit(max(0, limit))
    )
    found = Statement(reader, query).rows()
    if not found:
        return []
    snapshots = select(r.c.run_id, r.c.state).where(
        r.c.tenant_id == reader.tenant, r.c.run_id.in_([row[0] for row in found])
    )
    states = dict(Statement(reader, snapshots).rows())
    rows = []
    for run_id, template_id, plant, began in found:
        step, error = _incident_of(states.get(run_id))
        rows.append(IncidentRow(run_id, template_id, plant, step, float(began), error))
    return rows


def scope(reader: SqlReader, sites: Sites = None) -> tuple[list[str], list[str]]:
    """What a dashboard can be narrowed to: the tenant's plants (top-level sites; only
    ``sites`` when given) and the ids of its published templates, each sorted."""
    site, t = s.sites, s.templates
    plants = reader.conn.execute(
        select(site.c.site_id).where(site.c.tenant_id == reader.tenant, site.c.parent_id == "")
    ).scalars()
    found = sorted(str(p) for p in plants if sites is None or p in sites)
    if sites is not None:
        found = sorted(set(found) | sites)
    templates = reader.conn.execute(
        select(t.c.template_id).distinct().where(t.c.tenant_id == reader.tenant)
    ).scalars()
    return found, sorted(str(i) for i in templates)


# ---- trends -------------------------------------------------------------------------------


def _per_bucket(
    reader: SqlReader,
    at: ColumnElement[float],
    bucket_s: int,
    window: Window,
    where: list[ColumnElement[bool]],
    source: FromClause | None = None,
) -> Mapping[int, int]:
    # Written inline (not bound) so that GROUP BY repeats the selected expression exactly.
    offset = (at - literal_column(repr(ORIGIN), Float)) / literal_column(f"{bucket_s}.0", Float)
    if reader.conn.dialect.name == "postgresql":
        bucket = cast(func.floor(offset), Integer)
    else:
        bucket = cast(offset, Integer)  # times are after ORIGIN: truncating is flooring
    query = select(bucket, func.count()).where(*where, *between(at, window)).group_by(bucket)
    if source is not None:
        query = query.select_from(source)
    return {int(b): int(n) for b, n in Statement(reader, query).rows()}


def _bucket(at: float, bucket_s: int) -> int:
    return math.floor((at - ORIGIN) / bucket_s)


def _last_bucket(until: float, bucket_s: int) -> int:
    """The last bucket that starts before ``until`` (the window's end is exclusive)."""
    index = _bucket(until, bucket_s)
    return index - 1 if ORIGIN + index * bucket_s >= until else index


# ---- decoding -----------------------------------------------------------------------------


def _roles(text: str) -> list[str]:
    try:
        found = json.loads(text)
    except ValueError:
        return [text]
    return [str(role) for role in found] if isinstance(found, list) else [str(found)]


def _incident_of(state: object) -> tuple[str, str]:
    """(step, error) from a parked run's snapshot."""
    try:
        snapshot = json.loads(str(state)) if state else {}
    except ValueError:
        return "", ""
    step = snapshot.get("incident") if isinstance(snapshot, dict) else None
    if not isinstance(step, str):
        return "", ""
    steps = snapshot.get("steps")
    detail = steps.get(step) if isinstance(steps, dict) else None
    error = detail.get("error") if isinstance(detail, dict) else None
    return step, str(error or "")
