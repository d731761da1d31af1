"""The dashboard reads of one tenant, straight from its runs, tasks and journal.

Every statement is bound to the tenant and reads through an index made for it
(``store/schema.py``, "dashboard indexes"; docs/adr/0018-analytics-queries.md). Counts are
computed in SQL; durations come back as plain floats, for ``andon.analytics`` to sort and
take percentiles of.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    FromClause,
    Integer,
    bindparam,
    cast,
    func,
    literal_column,
    select,
)

from andon.store import schema as s
from andon.store.analytics_sql import (
    Owners,
    Sites,
    Statement,
    Window,
    between,
    facts,
    plant_filters,
    run_filters,
    second_connection,
    task_template,
)
from andon.store.analytics_visits import ApprovalDurations, wait_durations


@dataclass(frozen=True, slots=True)
class ParkedRun:
    """A run parked in an incident since ``since``, with its snapshot (JSON text)."""

    run_id: str
    template_id: str
    plant: str
    since: float
    state: str | None


Counts = Mapping[int, int]
"""Rows per time bucket, by the bucket's index."""


@dataclass(frozen=True, slots=True)
class Buckets:
    """Time buckets ``width_s`` long, numbered from ``origin`` (UTC epoch seconds)."""

    origin: float
    width_s: int


class AnalyticsReads:
    """The dashboard reads of one tenant (``reader.analytics``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    @contextmanager
    def alongside(self) -> Iterator[AnalyticsReads]:
        """The same reads on a second connection, to run at the same time as these."""
        with second_connection(self._conn) as other:
            yield AnalyticsReads(other, self._tenant)

    # ---- published templates (which template a step id belongs to) ----

    def template_digests(self) -> list[tuple[str, str]]:
        """(template id, digest) of every published version."""
        t = s.templates
        query = select(t.c.template_id, t.c.digest).where(t.c.tenant_id == self._tenant)
        return [(str(i), str(digest)) for i, digest in self._conn.execute(query)]

    def template_sources(self, digests: Sequence[str]) -> list[tuple[str, str]]:
        """(digest, YAML source) of these published versions."""
        t = s.templates
        query = select(t.c.digest, t.c.source).where(
            t.c.tenant_id == self._tenant, t.c.digest.in_(digests)
        )
        return [(str(digest), str(source)) for digest, source in self._conn.execute(query)]

    def scope(self) -> tuple[list[str], list[str]]:
        """The ids of the tenant's plants (top-level sites) and of its templates."""
        site, t = s.sites, s.templates
        plants = self._conn.execute(
            select(site.c.site_id).where(site.c.tenant_id == self._tenant, site.c.parent_id == "")
        ).scalars()
        found = [str(p) for p in plants]
        templates = self._conn.execute(
            select(t.c.template_id).distinct().where(t.c.tenant_id == self._tenant)
        ).scalars()
        return found, [str(i) for i in templates]

    # ---- the dashboards ----

    def completed_run_seconds(self, window: Window, sites: Sites) -> list[float]:
        """Start to end of the runs completed in the window."""
        r = s.runs
        query = select(r.c.ended_at - r.c.created_at).where(
            r.c.tenant_id == self._tenant,
            r.c.status == "completed",
            *between(r.c.ended_at, window),
            *run_filters(r, window, sites),
        )
        return Statement(self._conn, query).floats()

    def decision_seconds(
        self, window: Window, sites: Sites, owners: Owners
    ) -> list[tuple[str, str, list[float]]]:
        """(candidate roles as JSON text, plant, seconds from opening to decision) per group
        of the tasks decided in the window. Tasks closed by their timeout or cancelled with
        their run are not decisions. ``owners`` of the approval steps are needed when the
        window names a template."""
        t = s.tasks
        where = [
            t.c.tenant_id == self._tenant,
            t.c.status == "closed",
            t.c.outcome != "timeout",
            *between(t.c.closed_at, window),
            *plant_filters(t.c.plant, window, sites),
            *task_template(window, owners),
        ]
        groups = select(t.c.step, t.c.roles, t.c.plant).where(*where)
        groups = groups.group_by(t.c.step, t.c.roles, t.c.plant)
        one = Statement(
            self._conn,
            select(t.c.closed_at - t.c.created_at).where(
                *where,
                t.c.step == bindparam("g_step", ""),
                t.c.roles == bindparam("g_roles", ""),
                t.c.plant == bindparam("g_plant", ""),
            ),
        )
        return [
            (str(roles), str(plant), one.floats(g_step=step, g_roles=roles, g_plant=plant))
            for step, roles, plant in Statement(self._conn, groups).rows()
        ]

    def approval_durations(self, window: Window, sites: Sites, owners: Owners) -> ApprovalDurations:
        """Opening to closing of the approval tasks closed in the window, per step."""
        return ApprovalDurations(self._conn, self._tenant, window, sites, owners)

    def wait_durations(
        self, window: Window, sites: Sites, *, by_template: bool
    ) -> dict[tuple[str, ...], list[float]]:
        """Start to end of the waits that ended in the window (see ``wait_durations``)."""
        return wait_durations(self._conn, self._tenant, window, sites, by_template=by_template)

    def run_counts(self, window: Window, sites: Sites, buckets: Buckets) -> tuple[Counts, Counts]:
        """Runs started and runs completed, per bucket."""
        r = s.runs
        runs = [r.c.tenant_id == self._tenant, *run_filters(r, window, sites)]
        completed = [*runs, r.c.status == "completed"]
        return (
            self._per_bucket(r.c.created_at, buckets, window, runs),
            self._per_bucket(r.c.ended_at, buckets, window, completed),
        )

    def journal_counts(
        self, window: Window, sites: Sites, buckets: Buckets
    ) -> tuple[Counts, Counts, Counts, Counts]:
        """SLA breaches (approval due times and wait timeouts that passed), escalations,
        incidents (facts that parked a run) and failed action attempts, per bucket."""
        e = s.run_events
        source, conditions = facts(e, window, sites)
        breaches, escalations, incidents, failures = (
            self._per_bucket(
                e.c.at,
                buckets,
                window,
                [e.c.tenant_id == self._tenant, signal(e), *conditions],
                source,
            )
            for signal in (s.sla_breached, s.escalated, s.parked_run, s.step_failed)
        )
        return breaches, escalations, incidents, failures

    def parked_runs(self, window: Window, sites: Sites, limit: int) -> list[ParkedRun]:
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
            .where(r.c.tenant_id == self._tenant, r.c.status == "incident")
            .where(*run_filters(r, window, sites))
            .subquery()
        )
        query = (
            select(parked)
            .where(*between(parked.c.since, window))
            .order_by(parked.c.since, parked.c.run_id)
            .limit(max(0, limit))
        )
        found = Statement(self._conn, query).rows()
        if not found:
            return []
        snapshots = select(r.c.run_id, r.c.state).where(
            r.c.tenant_id == self._tenant, r.c.run_id.in_([row[0] for row in found])
        )
        states = dict(Statement(self._conn, snapshots).rows())
        return [
            ParkedRun(run_id, template_id, plant, float(began), states.get(run_id))
            for run_id, template_id, plant, began in found
        ]

    def _per_bucket(
        self,
        at: ColumnElement[float],
        buckets: Buckets,
        window: Window,
        where: list[ColumnElement[bool]],
        source: FromClause | None = None,
    ) -> Counts:
        # Written inline (not bound) so that GROUP BY repeats the selected expression exactly.
        origin = literal_column(repr(float(buckets.origin)), Float)
        offset = (at - origin) / literal_column(f"{int(buckets.width_s)}.0", Float)
        if self._conn.dialect.name == "postgresql":
            bucket = cast(func.floor(offset), Integer)
        else:
            bucket = cast(offset, Integer)  # times are after the origin: truncating is flooring
        query = select(bucket, func.count()).where(*where, *between(at, window)).group_by(bucket)
        if source is not None:
            query = query.select_from(source)
        return {int(b): int(n) for b, n in Statement(self._conn, query).rows()}
