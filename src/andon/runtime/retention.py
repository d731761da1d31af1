"""Retention periods, legal holds and the purge job of a tenant.

A purge deletes an expired run's journal, tasks and snapshot in one transaction and leaves
a tombstone in the tenant's administrative chain: the run's final head (sequence and
hash), its template and retention class, sealed with the checkpoint-signing key
(governance/tombstones.py). Checkpoints that covered the run then verify against the
tombstone, and the next checkpoint signs the tombstone itself. On PostgreSQL the journal
tables refuse deletes unless the transaction purges (``journal_purge``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from andon.errors import InputError, NotFoundError
from andon.governance import authz, retention, tombstones
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import admin_chain
from andon.runtime.clock import Clock
from andon.runtime.keys import KeyRing
from andon.runtime.operations import operation
from andon.runtime.templates import TemplateCache
from andon.store import schema as s
from andon.store import statements as q
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction


@dataclass(frozen=True, slots=True)
class Purged:
    run_id: str
    template: str
    retention_class: str
    rows: int


class Retention:
    def __init__(
        self, store: SqlStore, clock: Clock, templates: TemplateCache, keys: KeyRing
    ) -> None:
        self.store = store
        self.clock = clock
        self.templates = templates
        self.keys = keys

    @operation(Permission.RETENTION_MANAGE)
    def set_period(self, actor: Actor, retention_class: str, days: int) -> None:
        """Set how long a class keeps records in this tenant."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        if days < 1:
            raise InputError("a retention period is at least one day")
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            conn = tx.conn
            table = s.retention_classes
            where = (table.c.tenant_id == tx.tenant) & (table.c.retention_class == retention_class)
            if conn.execute(select(table.c.days).where(where)).first() is None:
                conn.execute(
                    insert(table).values(
                        tenant_id=tx.tenant, retention_class=retention_class, days=days
                    )
                )
            else:
                conn.execute(update(table).where(where).values(days=days))
            admin_chain.record(
                tx, "retention.period_set", retention_class, {"days": days}, actor.user_id, now
            )

    @operation(Permission.RETENTION_MANAGE)
    def place_hold(
        self, actor: Actor, reason: str, *, run_id: str = "", template_id: str = ""
    ) -> str:
        """Keep one run, or every run of a template, whatever its retention says."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        if bool(run_id) == bool(template_id):
            raise InputError("a legal hold covers either one run or one template")
        if not reason.strip():
            raise InputError("a legal hold needs a reason")
        hold_id = uuid.uuid4().hex[:12]
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            if run_id and tx.run(run_id) is None:
                raise NotFoundError(f"no run '{run_id}'")
            if template_id and tx.latest_template_version(template_id) is None:
                raise NotFoundError(f"no published template '{template_id}'")
            tx.conn.execute(
                insert(s.legal_holds).values(
                    tenant_id=tx.tenant, hold_id=hold_id, run_id=run_id,
                    template_id=template_id, reason=reason.strip(),
                    placed_by=actor.user_id, placed_at=now,
                )
            )  # fmt: skip
            admin_chain.record(
                tx, "legal_hold.placed", hold_id,
                {"run_id": run_id, "template_id": template_id, "reason": reason.strip()},
                actor.user_id, now,
            )  # fmt: skip
        return hold_id

    @operation(Permission.RETENTION_MANAGE)
    def release_hold(self, actor: Actor, hold_id: str) -> None:
        authz.require(actor, Permission.RETENTION_MANAGE)
        now = self._now()
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            table = s.legal_holds
            done = tx.conn.execute(
                update(table)
                .where(
                    table.c.tenant_id == tx.tenant,
                    table.c.hold_id == hold_id,
                    table.c.released_at.is_(None),
                )
                .values(released_by=actor.user_id, released_at=now)
            )
            if done.rowcount != 1:
                raise NotFoundError(f"no active legal hold '{hold_id}'")
            admin_chain.record(tx, "legal_hold.released", hold_id, {}, actor.user_id, now)

    @operation(Permission.RETENTION_MANAGE)
    def purge(self, actor: Actor, *, dry_run: bool = False) -> list[Purged]:
        """Purge every ended run whose retention has passed and that no hold covers."""
        authz.require(actor, Permission.RETENTION_MANAGE)
        now = self._now()
        purged: list[Purged] = []
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            periods, holds = _periods(tx), _holds(tx)
            ended = tx.conn.execute(
                select(
                    s.runs.c.run_id, s.runs.c.template_id, s.runs.c.template_version,
                    s.runs.c.ended_at, s.runs.c.last_seq, s.runs.c.last_hash,
                )
                .where(s.runs.c.tenant_id == tx.tenant, s.runs.c.ended_at.is_not(None))
                .order_by(s.runs.c.ended_at, s.runs.c.run_id)
            ).all()  # fmt: skip
            for run_id, template_id, version, ended_at, last_seq, last_hash in ended:
                template = self.templates.get(tx.tenant, template_id, version)
                verdict = retention.purge_verdict(
                    run_id, template_id, template.retention, ended_at, now, periods, holds
                )
                if verdict is not None:
                    continue
                item = Purged(run_id, template.ref, template.retention, int(last_seq))
                purged.append(item)
                if dry_run:
                    continue
                scope = {"b_tenant": tx.tenant, "b_run_id": run_id}
                with journal_purge(tx):
                    for statement in (q.PURGE_JOURNAL, q.PURGE_TASKS, q.PURGE_OUTBOX, q.PURGE_RUN):
                        tx.conn.execute(statement, scope)
                body = tombstones.seal(
                    self.keys.private_key(), tx.tenant, run_id, now,
                    {"template": template.ref, "template_id": template_id,
                     "class": template.retention,
                     "days": retention.period_days(template.retention, periods),
                     "ended_at": ended_at, "last_seq": int(last_seq), "last_hash": last_hash},
                )  # fmt: skip
                admin_chain.record(tx, retention.PURGED, run_id, body, actor.user_id, now)
        return purged

    def _now(self) -> float:
        return self.clock.now().timestamp()


@contextmanager
def journal_purge(tx: SqlTransaction) -> Iterator[None]:
    """Lift the append-only guard on ``run_events`` for this transaction only: PostgreSQL
    by a transaction-local setting (migration 0010), SQLite by dropping its delete trigger
    and creating it again before the transaction ends (migration 0015)."""
    if tx.conn.dialect.name == "postgresql":
        tx.conn.exec_driver_sql("SET LOCAL andon.purge = 'on'")
        yield
        return
    found = tx.conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_SQLITE_GUARD,)
    ).scalar()
    if found is None:  # a database whose guard was removed: nothing to lift or restore
        yield
        return
    tx.conn.exec_driver_sql(f"DROP TRIGGER {_SQLITE_GUARD}")
    yield
    tx.conn.exec_driver_sql(str(found))


_SQLITE_GUARD = "run_events_no_delete"


def _periods(tx: SqlTransaction) -> dict[str, int]:
    table = s.retention_classes
    rows = tx.conn.execute(
        select(table.c.retention_class, table.c.days).where(table.c.tenant_id == tx.tenant)
    )
    return {str(r[0]): int(r[1]) for r in rows}


def _holds(tx: SqlTransaction) -> list[retention.Hold]:
    table = s.legal_holds
    rows = tx.conn.execute(
        select(table.c.hold_id, table.c.run_id, table.c.template_id, table.c.reason).where(
            table.c.tenant_id == tx.tenant, table.c.released_at.is_(None)
        )
    )
    return [retention.Hold(*r) for r in rows]
