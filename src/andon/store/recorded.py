"""What a dry run reads (ADR 0033): the newest inbox events of some types, and the facts
from outside that the runs they started were told."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from andon.store import rows
from andon.store import schema as s
from andon.store.base import JournalRow
from andon.store.dead_letters import InboxEvent, inbox_row

ANSWERS = ("StepSucceeded", "StepFailed", "TaskCompleted", "EventReceived", "TimerFired")
"""The journal facts that answer a run's steps from outside."""
CHUNK = 500
"""Run ids per query: well under every driver's limit on bound parameters."""


def inbox_events(
    conn: Connection,
    tenant: str,
    types: Sequence[str],
    limit: int,
    *,
    since: float | None = None,
    until: float | None = None,
    plant: str | None = None,
) -> list[InboxEvent]:
    """The newest ``limit`` events of ``types`` (received in ``[since, until)``, at
    ``plant``, when given), oldest first."""
    if not types:
        return []
    i = s.inbox
    query = select(i).where(i.c.tenant_id == tenant, i.c.event_type.in_(sorted(types)))
    if since is not None:
        query = query.where(i.c.received_at >= since)
    if until is not None:
        query = query.where(i.c.received_at < until)
    if plant is not None:
        query = query.where(i.c.plant == plant)
    newest = query.order_by(i.c.received_at.desc(), i.c.source.desc(), i.c.event_id.desc()).limit(
        limit
    )
    found = [inbox_row(r._mapping) for r in conn.execute(newest)]
    return found[::-1]


def answers(conn: Connection, tenant: str, run_ids: Sequence[str]) -> dict[str, list[JournalRow]]:
    """Per run, its journal facts that came from outside (``ANSWERS``), in order."""
    e = s.run_events
    found: dict[str, list[JournalRow]] = {}
    ids = sorted(set(run_ids))
    for start in range(0, len(ids), CHUNK):
        query = (
            select(e)
            .where(
                e.c.tenant_id == tenant,
                e.c.run_id.in_(ids[start : start + CHUNK]),
                e.c.type.in_(ANSWERS),
            )
            .order_by(e.c.run_id, e.c.seq)
        )
        for row in conn.execute(query):
            journal = rows.journal_row(row._mapping)
            found.setdefault(journal.run_id, []).append(journal)
    return found


def existing_runs(conn: Connection, tenant: str, run_ids: Sequence[str]) -> set[str]:
    """Those of ``run_ids`` that are runs of the tenant."""
    r = s.runs
    ids = sorted(set(run_ids))
    found: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        query = select(r.c.run_id).where(
            r.c.tenant_id == tenant, r.c.run_id.in_(ids[start : start + CHUNK])
        )
        found.update(str(row[0]) for row in conn.execute(query))
    return found


class RecordedReads:
    """What a dry run reads of one tenant (``reader.recorded``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def inbox_events(
        self,
        types: Sequence[str],
        limit: int,
        *,
        since: float | None = None,
        until: float | None = None,
        plant: str | None = None,
    ) -> list[InboxEvent]:
        return inbox_events(
            self._conn, self._tenant, types, limit, since=since, until=until, plant=plant
        )

    def answers(self, run_ids: Sequence[str]) -> dict[str, list[JournalRow]]:
        return answers(self._conn, self._tenant, run_ids)

    def existing_runs(self, run_ids: Sequence[str]) -> set[str]:
        return existing_runs(self._conn, self._tenant, run_ids)
