"""The dashboards of one tenant, computed from what ``reader.analytics`` reads straight
from its runs, tasks and journal (``store/analytics.py``).

Counts are computed in SQL. Percentiles are exact, interpolating linearly between the
two nearest ranks (as PostgreSQL's ``percentile_cont``), over the durations of each group
fetched as one column and sorted here: SQLite has no percentile function, and sorting a
column of floats in Python costs less than making SQLite sort rows
(docs/adr/0018-analytics-queries.md).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

from andon.analytics import visits
from andon.analytics.model import Histogram, IncidentRow, LatencyRow, StepRow, TrendRow, Window
from andon.analytics.sql import Sites, percentile
from andon.analytics.steps import approval_templates
from andon.errors import InputError
from andon.store.analytics import Buckets, Counts
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
    seconds = reader.analytics.completed_run_seconds(window, sites)
    hours = sorted(s / HOUR for s in seconds)
    upto = [bisect_right(hours, bound) for bound in BOUNDS_H]
    counts = (upto[0], *(b - a for a, b in pairwise(upto)))
    return Histogram(BOUNDS_H, counts, len(hours), percentile(hours, 50), percentile(hours, 90))


def approval_latency(reader: SqlReader, window: Window, *, sites: Sites = None) -> list[LatencyRow]:
    """Time from a task's opening to its decision, per candidate role and plant, for the
    tasks decided in the window; a task offered to several roles counts for each of them.
    Tasks closed by their timeout or cancelled with their run are not decisions."""
    reads = reader.analytics
    # Which template an approval step id belongs to matters only for a template's window.
    owners = approval_templates(reads) if window.template_id is not None else {}
    per_role: dict[tuple[str, str], list[float]] = {}
    for roles, plant, seconds in reads.decision_seconds(window, sites, owners):
        for role in _roles(roles):
            per_role.setdefault((role, plant), []).extend(seconds)
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
    reads = reader.analytics
    with reads.alongside() as other, ThreadPoolExecutor(1) as pool:
        approvals = pool.submit(lambda: list(visits.approvals(other, window, sites)))
        found = [*visits.waits(reads, window, sites), *approvals.result()]
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
    reads, buckets = reader.analytics, Buckets(ORIGIN, bucket_s)
    with reads.alongside() as other, ThreadPoolExecutor(1) as pool:
        # the journal on a second connection, meanwhile
        signals = pool.submit(other.journal_counts, window, sites, buckets)
        series: list[Counts] = [*reads.run_counts(window, sites, buckets), *signals.result()]
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
    rows = []
    for run in reader.analytics.parked_runs(window, sites, limit):
        step, error = _incident_of(run.state)
        rows.append(IncidentRow(run.run_id, run.template_id, run.plant, step, run.since, error))
    return rows


def scope(reader: SqlReader, sites: Sites = None) -> tuple[list[str], list[str]]:
    """What a dashboard can be narrowed to: the tenant's plants (top-level sites; only
    ``sites`` when given) and the ids of its published templates, each sorted."""
    plants, templates = reader.analytics.scope()
    found = sorted(p for p in plants if sites is None or p in sites)
    if sites is not None:
        found = sorted(set(found) | sites)
    return found, sorted(templates)


# ---- trends -------------------------------------------------------------------------------


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
