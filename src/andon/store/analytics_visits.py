"""The durations of the visits the bottleneck chart ranks, as the store records both ends:
an approval (its task row is opened and closed) and a wait for an event or on a timer (the
journal row that began it and the one that ended it). ``andon.analytics.visits`` turns them
into per-step figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)

from andon.store import schema as s
from andon.store.analytics_sql import (
    FirstNoteStep,
    Owners,
    Sites,
    Statement,
    Window,
    between,
    plant_filters,
    run_filters,
    task_template,
)


class ApprovalDurations:
    """Opening to closing of the tenant's approval tasks closed in a window, per step; the
    statements are compiled once and run per step."""

    def __init__(
        self, conn: Connection, tenant: str, window: Window, sites: Sites, owners: Owners
    ) -> None:
        t, r = s.tasks, s.runs
        where = [
            t.c.tenant_id == tenant,
            t.c.status == "closed",
            *between(t.c.closed_at, window),
            *plant_filters(t.c.plant, window, sites),
            *task_template(window, owners),
        ]
        duration = (t.c.closed_at - t.c.created_at).label("d")
        self._totals = select(t.c.step, func.count(), func.sum(duration))
        self._totals = self._totals.where(*where).group_by(t.c.step)
        self._conn = conn
        self._top = Statement(
            conn,
            select(duration)
            .where(*where, t.c.step == bindparam("g", ""))
            .order_by(duration.desc())
            .limit(literal_column("2", Integer))
            .offset(bindparam("skip", 0)),
        )
        self._joined = Statement(
            conn,
            select(r.c.template_id, duration)
            .join(r, and_(r.c.tenant_id == t.c.tenant_id, r.c.run_id == t.c.run_id))
            .where(*where, t.c.step == bindparam("g", "")),
        )

    def totals(self) -> list[tuple[str, int, float]]:
        """(step, tasks, sum of their seconds) per step."""
        found = Statement(self._conn, self._totals).rows()
        return [(str(step), int(count), float(total)) for step, count, total in found]

    def two_longest_after(self, step: str, skip: int) -> list[float]:
        """The step's two longest durations once the ``skip`` longest are left out, longest
        first: a sort the database bounds to the top ``skip + 2``."""
        return [float(v) for (v,) in self._top.rows(g=step, skip=skip)]

    def per_template(self, step: str) -> dict[str, list[float]]:
        """The step's durations by the template of the task's run."""
        found: dict[str, list[float]] = {}
        for template_id, seconds in self._joined.rows(g=step):
            found.setdefault(str(template_id), []).append(float(seconds))
        return found


def wait_durations(
    conn: Connection, tenant: str, window: Window, sites: Sites, *, by_template: bool
) -> dict[tuple[str, ...], list[float]]:
    """Start to end of the waits (for events, on timers) that ended in the window, per step,
    or per template and step; each end is paired with the last wait that began before it
    in the same run. Without ``by_template`` only the window's times apply (the journal
    names no template nor plant): the caller asks so when the window narrows no runs."""
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
    where = [e.c.tenant_id == tenant, *between(e.c.at, window)]
    step = FirstNoteStep(e.c.trace)
    if not by_template:
        return _durations(conn, select(step, e.c.at - start).where(*where))
    query = (
        select(r.c.template_id, step, e.c.at - start)
        .join(r, and_(r.c.tenant_id == e.c.tenant_id, r.c.run_id == e.c.run_id))
        .where(*where, *run_filters(r, window, sites))
    )
    return _durations(conn, query)


def _durations(conn: Connection, query: Select[Any]) -> dict[tuple[str, ...], list[float]]:
    """The durations of the waits that ``query`` selects (the step, or the template and the
    step, then the duration) per group, over the journal rows that ended a wait; an end
    with no wait before it has none. The rows are found through the index of wait ends.
    On PostgreSQL that index holds the traces that fit in an index row (an index-only scan)
    and another one the rare longer ones; each group's durations come back as one array."""
    e = s.run_events
    if conn.dialect.name == "postgresql":
        ends = union_all(
            query.where(s.wait_ended(e), s.trace_indexed(e)),
            query.where(s.wait_ended(e), s.trace_not_indexed(e)),
        ).subquery()
        *group, seconds = ends.c
        # NULLs left out by the aggregate: a WHERE would be pushed down into both branches,
        # and each wait's start looked up twice.
        durations = func.array_agg(seconds).filter(seconds.is_not(None))
        rows = Statement(conn, select(*group, durations).group_by(*group)).rows()
        return {tuple(row[:-1]): row[-1] for row in rows if row[-1] is not None}
    rows = Statement(conn, query.where(s.wait_ended(e))).rows()
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
