"""The runs and journal facts an export covers, streamed from the store in one query.

Both writers read the same rows in the same order: run by run (oldest start first), each
run's facts by sequence number, so a writer holds one run's state at a time.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Select, select

from andon.core.json import JsonObject
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.store import schema as s

BATCH = 500
"""Rows fetched from the database at a time."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which runs of one tenant to export."""

    tenant: str
    template: str | None = None
    since: float | None = None
    """Runs started at or after this time (UTC seconds since the epoch)."""
    until: float | None = None
    """Runs started before this time."""
    plants: frozenset[str] | None = None
    """The plants the reader may see; None means every plant of the tenant."""


def scope_for(
    actor: Actor,
    template: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Scope:
    """The scope ``actor`` may export: their tenant, only plants they may read runs of."""
    plants = authz.readable_sites(actor, Permission.RUN_READ)
    if plants is not None and not plants:
        authz.require(actor, Permission.RUN_READ)  # raises with the reason
    return Scope(actor.tenant_id, template, since, until, plants)


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


def _query(scope: Scope) -> Select[tuple[object, ...]]:
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
        .where(r.tenant_id == scope.tenant, e.tenant_id == scope.tenant)
        .order_by(r.created_at, r.run_id, e.seq)
    )
    if scope.template is not None:
        query = query.where(r.template_id == scope.template)
    if scope.since is not None:
        query = query.where(r.created_at >= scope.since)
    if scope.until is not None:
        query = query.where(r.created_at < scope.until)
    if scope.plants is not None:
        query = query.where(r.plant.in_(sorted(scope.plants)))
    return query


def cases(conn: Connection, scope: Scope) -> Iterator[tuple[Case, Iterator[Fact]]]:
    """Each run in scope with its facts, streamed; consume a run's facts before the next."""
    rows = conn.execute(_query(scope), execution_options={"yield_per": BATCH})
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
