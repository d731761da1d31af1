"""The runs and journal facts a process-mining export covers, streamed in one query.

Both writers (``andon.export``) read the same rows in the same order: run by run (oldest
start first), each run's facts by sequence number, so a writer holds one run's state at a
time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Select, select

from andon.core.json import JsonObject
from andon.store import schema as s


@dataclass(frozen=True, slots=True)
class Case:
    """A run, as far as process mining cares."""

    run_id: str
    template_id: str
    template_version: int
    plant: str
    status: str
    outcome: str | None
    started_by: str
    created_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class Fact:
    """One journal row of a run."""

    run_id: str
    seq: int
    type: str
    body: JsonObject
    trace: list[JsonObject]
    actor: str
    at: float


BATCH = 500
"""Rows fetched from the database at a time."""


class ExportReads:
    """The export reads of one tenant (``reader.exports``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def cases(
        self,
        template: str | None = None,
        since: float | None = None,
        until: float | None = None,
        plants: frozenset[str] | None = None,
    ) -> Iterator[tuple[Case, Iterator[Fact]]]:
        """Each run (of ``template``, started in ``[since, until)``, at one of ``plants``;
        None: any) with its facts, streamed; consume a run's facts before the next."""
        query = self._query(template, since, until, plants)
        rows = self._conn.execute(query, execution_options={"yield_per": BATCH})
        for _, group in itertools.groupby(rows, key=lambda row: row.run_id):
            first = next(group)
            case = Case(
                first.run_id,
                first.template_id,
                first.template_version,
                first.plant,
                first.status,
                first.outcome,
                first.started_by,
                first.created_at,
                first.ended_at,
            )
            yield (
                case,
                (
                    Fact(
                        row.run_id,
                        row.seq,
                        row.type,
                        json.loads(row.body),
                        json.loads(row.trace),
                        row.actor,
                        row.at,
                    )
                    for row in itertools.chain((first,), group)
                ),
            )

    def _query(
        self,
        template: str | None,
        since: float | None,
        until: float | None,
        plants: frozenset[str] | None,
    ) -> Select[tuple[object, ...]]:
        r, e = s.runs.c, s.run_events.c
        query = (
            select(
                r.run_id,
                r.template_id,
                r.template_version,
                r.plant,
                r.status,
                r.outcome,
                r.started_by,
                r.created_at,
                r.ended_at,
                e.seq,
                e.type,
                e.body,
                e.trace,
                e.actor,
                e.at,
            )
            .select_from(s.runs.join(s.run_events, e.run_id == r.run_id))
            .where(r.tenant_id == self._tenant, e.tenant_id == self._tenant)
            .order_by(r.created_at, r.run_id, e.seq)
        )
        if template is not None:
            query = query.where(r.template_id == template)
        if since is not None:
            query = query.where(r.created_at >= since)
        if until is not None:
            query = query.where(r.created_at < until)
        if plants is not None:
            query = query.where(r.plant.in_(sorted(plants)))
        return query
