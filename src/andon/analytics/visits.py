"""How long runs stayed in their steps: the visits that the bottleneck chart ranks.

Two kinds of step keep a run waiting, and the store records both ends of their visits:
an approval (its task row is opened and closed) and a wait for an event or on a timer
(the journal row that began it and the one that ended it). Actions, decisions and the
rest take the time of a connector call or none at all; their failures and incidents
have charts of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.types import Integer

from andon.analytics.model import Window
from andon.analytics.sql import (
    FirstNoteStep,
    Sites,
    Statement,
    between,
    percentile,
    plant_filters,
    rank,
    run_filters,
    task_template,
)
from andon.analytics.steps import approval_templates, wait_templates
from andon.store import schema as s
from andon.store.transaction import SqlReader


@dataclass(frozen=True, slots=True)
class Visits:
    """The visits of one step of one template."""

    template_id: str
    step: str
    count: int
    total_s: float
    p90_s: float | None


def approvals(reader: SqlReader, window: Window, sites: Sites) -> Iterator[Visits]:
    """Opening to closing of the approval tasks closed in the window. A step id that one
    template has is attributed to it at once; others through the task's run. Count and
    sum come from SQL, the 90th percentile from the two rows around its rank (a sort the
    database bounds to the top tenth)."""
    t, r = s.tasks, s.runs
    where = [
        t.c.tenant_id == reader.tenant,
        t.c.status == "closed",
        *between(t.c.closed_at, window),
        *plant_filters(t.c.plant, window, sites),
        *task_template(reader, window),
    ]
    duration = (t.c.closed_at - t.c.created_at).label("d")
    owners = approval_templates(reader)
    totals = select(t.c.step, func.count(), func.sum(duration)).where(*where).group_by(t.c.step)
    top = Statement(
        reader,
        select(duration)
        .where(*where, t.c.step == bindparam("g", ""))
        .order_by(duration.desc())
        .limit(literal_column("2", Integer))
        .offset(bindparam("skip", 0)),
    )
    joined = Statement(
        reader,
        select(r.c.template_id, duration)
        .join(r, and_(r.c.tenant_id == t.c.tenant_id, r.c.run_id == t.c.run_id))
        .where(*where, t.c.step == bindparam("g", "")),
    )
    for step, count, total in Statement(reader, totals).rows():
        templates = owners.get(str(step), frozenset())
        if len(templates) == 1:
            at = rank(count, 90)
            skip = count - 1 - min(math.floor(at) + 1, count - 1)
            around = [float(v) for (v,) in top.rows(g=step, skip=skip)]
            p90 = _interpolate(around[::-1], at)
            yield Visits(next(iter(templates)), str(step), count, float(total), p90)
            continue
        by_template: dict[str, list[float]] = {}
        for template_id, seconds in joined.rows(g=step):
            by_template.setdefault(str(template_id), []).append(float(seconds))
        for template_id, values in by_template.items():
            yield _visits(template_id, str(step), values)


def waits(reader: SqlReader, window: Window, sites: Sites) -> Iterator[Visits]:
    """Start to end of the waits (for events, on timers) that ended in the window: each
    end is paired with the last wait that began before it in the same run."""
    e, r = s.run_events, s.runs
    began = s.run_events.alias("began")
    start = (
        select(began.c.at)
        .where(
            began.c.tenant_id == e.c.tenant_id,
            began.c.run_id == e.c.run_id,
            began.c.seq < e.c.seq,
            s.wait_began(began),
        )
        .order_by(began.c.seq.desc())
        .limit(literal_column("1", Integer))
        .scalar_subquery()
    )
    on_run = run_filters(r, window, sites)
    where = [e.c.tenant_id == reader.tenant, *between(e.c.at, window)]
    step = FirstNoteStep(e.c.trace)
    if not on_run:  # attribute by step id, unless some id is not exactly one template's
        by_step = _durations(reader, select(step, e.c.at - start).where(*where))
        owners = wait_templates(reader)
        if all(len(owners.get(step_id, ())) == 1 for (step_id,) in by_step):
            for (step_id,), values in by_step.items():
                yield _visits(next(iter(owners[step_id])), step_id, values)
            return
    query = (
        select(r.c.template_id, step, e.c.at - start)
        .join(r, and_(r.c.tenant_id == e.c.tenant_id, r.c.run_id == e.c.run_id))
        .where(*where, *on_run)
    )
    for (template_id, step_id), values in _durations(reader, query).items():
        yield _visits(template_id, step_id, values)


def _durations(reader: SqlReader, query: Select[Any]) -> dict[tuple[str, ...], list[float]]:
    """The durations of the waits that ``query`` selects (the step, or the template and the
    step, then the duration) per group, over the journal rows that ended a wait; an end
    with no wait before it has none. The rows are found through the index of wait ends.
    On PostgreSQL that index holds the traces that fit in an index row (an index-only scan)
    and another one the rare longer ones; each group's durations come back as one array."""
    e = s.run_events
    if reader.conn.dialect.name == "postgresql":
        ends = union_all(
            query.where(s.wait_ended(e), s.trace_indexed(e)),
            query.where(s.wait_ended(e), s.trace_not_indexed(e)),
        ).subquery()
        *group, seconds = ends.c
        # NULLs left out by the aggregate: a WHERE would be pushed down into both branches,
        # and each wait's start looked up twice.
        durations = func.array_agg(seconds).filter(seconds.is_not(None))
        rows = Statement(reader, select(*group, durations).group_by(*group)).rows()
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1] is not None}
    rows = Statement(reader, query.where(s.wait_ended(e))).rows()
    found: dict[tuple[str, ...], list[float]] = {}
    if len(query.selected_columns) == 3:
        for template_id, step_id, seconds in rows:
            if seconds is not None:
                found.setdefault((template_id, step_id), []).append(seconds)
        return found
    by_step: dict[str, list[float]] = {}
    for step_id, seconds in rows:
        if seconds is not None:
            by_step.setdefault(step_id, []).append(seconds)
    return {(step_id,): values for step_id, values in by_step.items()}


def _visits(template_id: str, step: str, values: list[float]) -> Visits:
    values.sort()
    return Visits(template_id, step, len(values), math.fsum(values), percentile(values, 90))


def _interpolate(around: list[float], at: float) -> float | None:
    """The percentile at rank ``at`` from the values at ``floor(at)`` and the next rank."""
    if not around:
        return None
    low = around[0]
    high = around[1] if len(around) > 1 else low
    return low + (high - low) * (at - math.floor(at))
