"""Rows of ``stages``, ``rollouts`` and ``overlay_revisions`` (ADR 0031); every function
takes the tenant explicitly. ``RolloutReads`` is mixed into the write transaction and the
reader: the stage list and the records at the live stage are read once per transaction,
because every start asks for them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from andon.core import rollout
from andon.core.rollout import Act, Record
from andon.store import rows
from andon.store import schema as s
from andon.store import statements as q
from andon.store.base import JournalRow, OverlayRow

_r = s.rollouts
_v = s.overlay_revisions


@dataclass(frozen=True, slots=True)
class OverlayRevision:
    plant: str
    revision: int
    digest: str
    published_at: float


def read_stages(conn: Connection, tenant: str) -> tuple[str, ...]:
    """The tenant's stages, first to last; the default list when it set none."""
    query = select(s.stages.c.name).where(s.stages.c.tenant_id == tenant)
    found = tuple(str(r[0]) for r in conn.execute(query.order_by(s.stages.c.position)))
    return found or rollout.DEFAULT_STAGES


def read_governed(conn: Connection, tenant: str) -> frozenset[str]:
    """The tenant's governed stages (ADR 0034); the live one when it set no stages."""
    query = select(s.stages.c.name, s.stages.c.governed).where(s.stages.c.tenant_id == tenant)
    found = list(conn.execute(query))
    if not found:
        return frozenset(rollout.DEFAULT_STAGES[-1:])
    return frozenset(str(r.name) for r in found if r.governed)


def write_stages(
    conn: Connection,
    tenant: str,
    names: Sequence[str],
    governed: Sequence[str],
    by: str,
    at: float,
) -> None:
    conn.execute(delete(s.stages).where(s.stages.c.tenant_id == tenant))
    conn.execute(
        insert(s.stages),
        [
            {"tenant_id": tenant, "position": i, "name": n, "set_by": by, "set_at": at,
             "governed": int(n in governed)}
            for i, n in enumerate(names)
        ],
    )  # fmt: skip


def template_author(conn: Connection, tenant: str, template_id: str, version: int) -> str | None:
    """Who published ``template_id@version``."""
    t = s.templates.c
    query = select(t.published_by).where(
        t.tenant_id == tenant, t.template_id == template_id, t.version == version
    )
    found = conn.execute(query).scalar()
    return str(found) if found is not None else None


def records_via_run(conn: Connection, tenant: str, run_id: str) -> list[Record]:
    """The records a governed promotion run made (none before it was applied)."""
    query = select(_r).where(_r.c.tenant_id == tenant, _r.c.via_run == run_id)
    return [_record(r) for r in conn.execute(query.order_by(_r.c.seq))]


def read_records(
    conn: Connection, tenant: str, *, template_id: str | None = None, stage: str | None = None
) -> list[Record]:
    query = select(_r).where(_r.c.tenant_id == tenant).order_by(_r.c.seq)
    if template_id is not None:
        query = query.where(_r.c.template_id == template_id)
    if stage is not None:
        query = query.where(_r.c.stage == stage)
    return [_record(r) for r in conn.execute(query)]


def lock_history(conn: Connection, tenant: str) -> None:
    """Serialize, until commit, the transactions that change a tenant's rollout history:
    each reads what is in force and numbers its records from the last one. SQLite has one
    writer at a time already; PostgreSQL takes a transaction advisory lock."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"{tenant}\0rollouts".encode()).digest()
    conn.exec_driver_sql(
        "SELECT pg_advisory_xact_lock(%(lock)s)",
        {"lock": int.from_bytes(digest[:8], "big", signed=True)},
    )


def append_record(conn: Connection, tenant: str, record: Record) -> Record:
    """Append ``record`` (its ``seq`` is ignored) as the tenant's next; the caller holds
    ``lock_history``."""
    last = conn.execute(select(func.max(_r.c.seq)).where(_r.c.tenant_id == tenant)).scalar()
    seq = int(last or 0) + 1
    conn.execute(
        insert(_r).values(
            tenant_id=tenant, seq=seq, template_id=record.template_id, stage=record.stage,
            plant=record.plant, version=record.version, overlay_revision=record.overlay_revision,
            act=record.act.value, reason=record.reason, via_run=record.via_run,
            put_by=record.by, put_at=record.at,
        )
    )  # fmt: skip
    return Record(
        seq, record.template_id, record.stage, record.plant, record.version,
        record.overlay_revision, record.act, record.at, record.by, record.reason, record.via_run,
    )  # fmt: skip


def overlay_revisions(
    conn: Connection, tenant: str, template_id: str, plant: str | None = None
) -> list[OverlayRevision]:
    """The revisions of the template's overlays (of one plant if named), oldest first."""
    query = select(_v).where(_v.c.tenant_id == tenant, _v.c.template_id == template_id)
    if plant is not None:
        query = query.where(_v.c.plant == plant)
    found = conn.execute(query.order_by(_v.c.plant, _v.c.revision))
    return [
        OverlayRevision(r.plant, int(r.revision), r.digest, float(r.published_at)) for r in found
    ]


def add_overlay_revision(
    conn: Connection, tenant: str, template_id: str, plant: str, digest: str, at: float
) -> int:
    """Number a publication of the plant's overlay; returns its revision."""
    where = (_v.c.tenant_id == tenant, _v.c.template_id == template_id, _v.c.plant == plant)
    last = conn.execute(select(func.max(_v.c.revision)).where(*where)).scalar()
    revision = int(last or 0) + 1
    conn.execute(
        insert(_v).values(
            tenant_id=tenant, template_id=template_id, plant=plant, revision=revision,
            digest=digest, published_at=at,
        )
    )  # fmt: skip
    return revision


def overlay_at(
    conn: Connection, tenant: str, template_id: str, plant: str, revision: int
) -> OverlayRow | None:
    query = (
        select(s.overlays)
        .join(_v, (_v.c.tenant_id == s.overlays.c.tenant_id) & (_v.c.digest == s.overlays.c.digest))
        .where(
            _v.c.tenant_id == tenant,
            _v.c.template_id == template_id,
            _v.c.plant == plant,
            _v.c.revision == revision,
        )
    )
    found = conn.execute(query).first()
    return rows.overlay_row(found._mapping) if found else None


def _record(r: Any) -> Record:
    return Record(
        int(r.seq), r.template_id, r.stage, r.plant,
        int(r.version) if r.version is not None else None,
        int(r.overlay_revision) if r.overlay_revision is not None else None,
        Act(r.act), float(r.put_at), r.put_by, r.reason, r.via_run,
    )  # fmt: skip


class RolloutHistory:
    """A tenant's stage list, rollout records and overlay revisions (``tx.rollouts``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def lock(self) -> None:
        lock_history(self._conn, self._tenant)

    def records(self, *, template_id: str | None = None) -> list[Record]:
        return read_records(self._conn, self._tenant, template_id=template_id)

    def append(self, record: Record) -> Record:
        return append_record(self._conn, self._tenant, record)

    def set_stages(self, names: Sequence[str], governed: Sequence[str], by: str, at: float) -> None:
        write_stages(self._conn, self._tenant, names, governed, by, at)

    def add_overlay_revision(self, template_id: str, plant: str, digest: str, at: float) -> int:
        return add_overlay_revision(self._conn, self._tenant, template_id, plant, digest, at)

    def overlay_revisions(self, template_id: str) -> list[OverlayRevision]:
        return overlay_revisions(self._conn, self._tenant, template_id)


class RolloutReads:
    """Rollout reads of a transaction or a reader, the hot ones kept for its lifetime."""

    def _connection(self) -> Connection:
        raise NotImplementedError

    @property
    def tenant(self) -> str:
        raise NotImplementedError

    def _rollout_memo(self) -> dict[tuple[str, str], Any]:
        raise NotImplementedError

    def stages(self) -> tuple[str, ...]:
        memo = self._rollout_memo()
        key = ("stages", self.tenant)
        if key not in memo:
            memo[key] = read_stages(self._connection(), self.tenant)
        found: tuple[str, ...] = memo[key]
        return found

    def governed_stages(self) -> frozenset[str]:
        return read_governed(self._connection(), self.tenant)

    def template_author(self, template_id: str, version: int) -> str | None:
        return template_author(self._connection(), self.tenant, template_id, version)

    def records_via_run(self, run_id: str) -> list[Record]:
        return records_via_run(self._connection(), self.tenant, run_id)

    def overlay_plants(self, template_id: str) -> set[str]:
        """The plants with an overlay of ``template_id``."""
        return {o.plant for o in overlay_revisions(self._connection(), self.tenant, template_id)}

    def run_journal(self, run_id: str) -> list[JournalRow]:
        """A run's journal, oldest first (in a write transaction: after its run is locked)."""
        params = {"b_tenant": self.tenant, "run_id": run_id}
        found = self._connection().execute(q.SELECT_JOURNAL, params)
        return [rows.journal_row(r._mapping) for r in found]

    def live_records(self) -> dict[str, list[Record]]:
        """Per template, the records at the tenant's last stage (the live one)."""
        memo = self._rollout_memo()
        key = ("live", self.tenant)
        if key not in memo:
            by_template: dict[str, list[Record]] = {}
            for record in read_records(self._connection(), self.tenant, stage=self.stages()[-1]):
                by_template.setdefault(record.template_id, []).append(record)
            memo[key] = by_template
        found: dict[str, list[Record]] = memo[key]
        return found

    def stage_records(self, template_id: str, stage: str) -> list[Record]:
        return read_records(self._connection(), self.tenant, template_id=template_id, stage=stage)

    def overlay_at(self, template_id: str, plant: str, revision: int) -> OverlayRow | None:
        return overlay_at(self._connection(), self.tenant, template_id, plant, revision)

    def forget_rollouts(self) -> None:
        """After a write to stages or rollouts in this transaction."""
        self._rollout_memo().clear()
