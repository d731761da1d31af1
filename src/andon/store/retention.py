"""A tenant's retention periods and legal holds, the ended runs a purge considers, and the
purge of one run (its journal, tasks, queued work and snapshot)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from andon.governance import retention
from andon.store import schema as s
from andon.store import statements as q

_classes, _holds = s.retention_classes, s.legal_holds

_SQLITE_GUARD = "run_events_no_delete"


@dataclass(frozen=True, slots=True)
class EndedRun:
    run_id: str
    template_id: str
    template_version: int
    ended_at: float
    last_seq: int
    last_hash: str


class RetentionRows:
    """The tenant's retention classes and legal holds, and the purge of its runs."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self.conn = conn
        self.tenant = tenant

    def set_period(self, retention_class: str, days: int) -> None:
        where = (_classes.c.tenant_id == self.tenant) & (
            _classes.c.retention_class == retention_class
        )
        if self.conn.execute(select(_classes.c.days).where(where)).first() is None:
            self.conn.execute(
                insert(_classes).values(
                    tenant_id=self.tenant, retention_class=retention_class, days=days
                )
            )
        else:
            self.conn.execute(update(_classes).where(where).values(days=days))

    def periods(self) -> dict[str, int]:
        """Days kept, by retention class (classes without a row keep their default)."""
        found = self.conn.execute(
            select(_classes.c.retention_class, _classes.c.days).where(
                _classes.c.tenant_id == self.tenant
            )
        )
        return {str(r[0]): int(r[1]) for r in found}

    def place_hold(
        self, hold_id: str, run_id: str, template_id: str, reason: str, by: str, at: float
    ) -> None:
        self.conn.execute(
            insert(_holds).values(
                tenant_id=self.tenant, hold_id=hold_id, run_id=run_id, template_id=template_id,
                reason=reason, placed_by=by, placed_at=at,
            )
        )  # fmt: skip

    def release_hold(self, hold_id: str, by: str, at: float) -> bool:
        """False when the tenant has no such hold in force."""
        done = self.conn.execute(
            update(_holds)
            .where(
                _holds.c.tenant_id == self.tenant,
                _holds.c.hold_id == hold_id,
                _holds.c.released_at.is_(None),
            )
            .values(released_by=by, released_at=at)
        )
        return done.rowcount == 1

    def holds(self) -> list[retention.Hold]:
        """The holds in force."""
        found = self.conn.execute(
            select(_holds.c.hold_id, _holds.c.run_id, _holds.c.template_id, _holds.c.reason).where(
                _holds.c.tenant_id == self.tenant, _holds.c.released_at.is_(None)
            )
        )
        return [retention.Hold(*r) for r in found]

    def ended_runs(self) -> list[EndedRun]:
        """Every ended run of the tenant, the longest ended first."""
        runs = s.runs
        found = self.conn.execute(
            select(
                runs.c.run_id, runs.c.template_id, runs.c.template_version, runs.c.ended_at,
                runs.c.last_seq, runs.c.last_hash,
            )
            .where(runs.c.tenant_id == self.tenant, runs.c.ended_at.is_not(None))
            .order_by(runs.c.ended_at, runs.c.run_id)
        )  # fmt: skip
        return [EndedRun(*r) for r in found]

    def purge_run(self, run_id: str) -> None:
        """Delete the run's journal, tasks, queued work and snapshot."""
        scope = {"b_tenant": self.tenant, "b_run_id": run_id}
        with journal_purge(self.conn):
            for statement in (q.PURGE_JOURNAL, q.PURGE_TASKS, q.PURGE_OUTBOX, q.PURGE_RUN):
                self.conn.execute(statement, scope)


@contextmanager
def journal_purge(conn: Connection) -> Iterator[None]:
    """Lift the append-only guard on ``run_events`` for this transaction only: PostgreSQL
    by a transaction-local setting (migration 0010), SQLite by dropping its delete trigger
    and creating it again before the transaction ends (migration 0015)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL andon.purge = 'on'")
        yield
        return
    found = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (_SQLITE_GUARD,)
    ).scalar()
    if found is None:  # a database whose guard was removed: nothing to lift or restore
        yield
        return
    conn.exec_driver_sql(f"DROP TRIGGER {_SQLITE_GUARD}")
    yield
    conn.exec_driver_sql(str(found))
