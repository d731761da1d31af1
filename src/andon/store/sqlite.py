"""SQLite store: WAL, ``BEGIN IMMEDIATE`` write transactions, power-loss-safe by default.

SQLite has one writer at a time; ``BEGIN IMMEDIATE`` takes the write lock up front so that
a transaction never fails half-way on a read-to-write upgrade, and ``busy_timeout`` makes
other processes queue for it instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from andon.core.json import JsonObject
from andon.errors import ConflictError, StaleRunError, StoreError
from andon.store import migrations
from andon.store import schema as s
from andon.store.base import (
    JournalRow,
    OutboxItem,
    OverlayRow,
    RunRow,
    TaskRow,
    TemplateRow,
)

SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL", "OFF")


def dumps(value: object) -> str:
    """Canonical JSON: sorted keys, no spaces; what the hash chain is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SqliteStore:
    """A SQLite database file holding the whole Andon schema."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self.synchronous = mode
        self.engine: Engine = create_engine(
            f"sqlite+pysqlite:///{self.path}",
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=4,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        event.listen(self.engine, "connect", self._on_connect)
        event.listen(self.engine, "begin", self._on_begin)
        try:
            with self.engine.connect() as conn:
                migrations.upgrade(conn)
        except DBAPIError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.orig}") from exc

    def _on_connect(self, dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={self.synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @staticmethod
    def _on_begin(conn: Connection) -> None:
        # Readers take a snapshot (deferred); writers take the write lock up front.
        read_only = conn.get_execution_options().get("andon_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[SqliteTransaction]:
        """A write transaction; commits on success, rolls back on any error."""
        try:
            with self.engine.begin() as conn:
                yield SqliteTransaction(conn)
        except IntegrityError as exc:
            raise ConflictError(f"conflicting write: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    @contextmanager
    def reader(self) -> Iterator[SqliteReader]:
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(andon_read_only=True)
                with conn.begin():
                    yield SqliteReader(conn)
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def raw_connection(self) -> sqlite3.Connection:
        """A plain sqlite3 connection with the same settings (benchmarks, tests)."""
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._on_connect(conn, None)
        return conn

    def close(self) -> None:
        self.engine.dispose()


def _run_row(row: Any) -> RunRow:
    return RunRow(
        run_id=row.run_id,
        template_id=row.template_id,
        template_version=row.template_version,
        overlay_digest=row.overlay_digest,
        plant=row.plant,
        status=row.status,
        outcome=row.outcome,
        state=json.loads(row.state),
        revision=row.revision,
        last_seq=row.last_seq,
        last_hash=row.last_hash,
        started_by=row.started_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
    )


def _task_row(row: Any) -> TaskRow:
    return TaskRow(
        task_id=row.task_id,
        run_id=row.run_id,
        step=row.step,
        title=row.title,
        plant=row.plant,
        roles=json.loads(row.roles),
        quorum=row.quorum,
        status=row.status,
        outcome=row.outcome,
        level=row.level,
        escalated_to=json.loads(row.escalated_to),
        created_at=row.created_at,
        due_at=row.due_at,
        closed_at=row.closed_at,
    )


def _journal_row(row: Any) -> JournalRow:
    return JournalRow(
        run_id=row.run_id,
        seq=row.seq,
        type=row.type,
        body=json.loads(row.body),
        trace=json.loads(row.trace),
        actor=row.actor,
        at=row.at,
        hash=row.hash,
    )


class SqliteTransaction:
    """Statements of one write transaction (see ``Transaction`` in base.py)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # templates and overlays
    def insert_template(self, row: TemplateRow, published_by: str) -> None:
        self.conn.execute(
            insert(s.templates).values(
                template_id=row.template_id,
                version=row.version,
                digest=row.digest,
                title=row.title,
                source=row.source,
                published_at=row.published_at,
                published_by=published_by,
            )
        )

    def template(self, template_id: str, version: int | None) -> TemplateRow | None:
        return _template(self.conn, template_id, version)

    def insert_overlay(self, row: OverlayRow, at: float) -> None:
        self.conn.execute(
            insert(s.overlays).values(
                digest=row.digest,
                template_id=row.template_id,
                plant=row.plant,
                params=dumps(row.params),
                source=row.source,
                published_at=at,
            )
        )

    def overlay(self, digest: str) -> OverlayRow | None:
        row = self.conn.execute(select(s.overlays).where(s.overlays.c.digest == digest)).first()
        return _overlay_row(row) if row else None

    def latest_overlay(self, template_id: str, plant: str) -> OverlayRow | None:
        row = self.conn.execute(
            select(s.overlays)
            .where(s.overlays.c.template_id == template_id, s.overlays.c.plant == plant)
            .order_by(s.overlays.c.published_at.desc())
            .limit(1)
        ).first()
        return _overlay_row(row) if row else None

    # runs and journal
    def insert_run(self, row: RunRow) -> None:
        self.conn.execute(
            insert(s.runs).values(
                run_id=row.run_id,
                template_id=row.template_id,
                template_version=row.template_version,
                overlay_digest=row.overlay_digest,
                plant=row.plant,
                status=row.status,
                outcome=row.outcome,
                state=dumps(row.state),
                revision=row.revision,
                last_seq=row.last_seq,
                last_hash=row.last_hash,
                started_by=row.started_by,
                created_at=row.created_at,
                updated_at=row.updated_at,
                ended_at=row.ended_at,
            )
        )

    def run(self, run_id: str) -> RunRow | None:
        row = self.conn.execute(select(s.runs).where(s.runs.c.run_id == run_id)).first()
        return _run_row(row) if row else None

    def update_run(self, row: RunRow, expected_revision: int) -> None:
        result = self.conn.execute(
            update(s.runs)
            .where(s.runs.c.run_id == row.run_id, s.runs.c.revision == expected_revision)
            .values(
                status=row.status,
                outcome=row.outcome,
                state=dumps(row.state),
                revision=row.revision,
                last_seq=row.last_seq,
                last_hash=row.last_hash,
                updated_at=row.updated_at,
                ended_at=row.ended_at,
            )
        )
        if result.rowcount != 1:
            raise StaleRunError(f"run {row.run_id} changed since revision {expected_revision}")

    def append_journal(self, row: JournalRow) -> None:
        self.conn.execute(
            insert(s.run_events).values(
                run_id=row.run_id,
                seq=row.seq,
                type=row.type,
                body=dumps(row.body),
                trace=dumps(row.trace),
                actor=row.actor,
                at=row.at,
                hash=row.hash,
            )
        )

    # outbox
    def enqueue(
        self, run_id: str, key: str, kind: str, body: JsonObject, due_at: float, now: float
    ) -> None:
        self.conn.execute(
            insert(s.outbox).values(
                run_id=run_id,
                key=key,
                kind=kind,
                body=dumps(body),
                due_at=due_at,
                lease_owner=None,
                lease_expires_at=None,
                attempts=0,
                created_at=now,
            )
        )

    def dequeue(self, run_id: str, key: str) -> None:
        self.conn.execute(
            delete(s.outbox).where(s.outbox.c.run_id == run_id, s.outbox.c.key == key)
        )

    def claim(self, owner: str, now: float, lease_s: float, limit: int) -> list[OutboxItem]:
        """Lease due rows. A lease pushes ``due_at`` to its expiry, so an abandoned row
        becomes due again by itself and the claim query needs only the due index."""
        expires = now + lease_s
        ids = (
            select(s.outbox.c.id)
            .where(s.outbox.c.due_at <= now)
            .order_by(s.outbox.c.due_at, s.outbox.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        rows = self.conn.execute(
            update(s.outbox)
            .where(s.outbox.c.id.in_(ids))
            .values(
                lease_owner=owner,
                lease_expires_at=expires,
                due_at=expires,
                attempts=s.outbox.c.attempts + 1,
            )
            .returning(
                s.outbox.c.id,
                s.outbox.c.run_id,
                s.outbox.c.key,
                s.outbox.c.kind,
                s.outbox.c.body,
                s.outbox.c.created_at,
                s.outbox.c.attempts,
            )
        ).all()
        items = [
            OutboxItem(r.id, r.run_id, r.key, r.kind, json.loads(r.body), r.created_at, r.attempts)
            for r in rows
        ]
        items.sort(key=lambda i: i.id)
        return items

    def release(self, item: OutboxItem, owner: str) -> bool:
        """Delete a finished row if this owner still holds its lease (fencing)."""
        result = self.conn.execute(
            delete(s.outbox).where(s.outbox.c.id == item.id, s.outbox.c.lease_owner == owner)
        )
        return result.rowcount == 1

    def next_due_at(self) -> float | None:
        value = self.conn.execute(select(func.min(s.outbox.c.due_at))).scalar()
        return float(value) if value is not None else None

    def end_run_work(self, run_id: str, now: float) -> None:
        self.conn.execute(
            delete(s.outbox).where(s.outbox.c.run_id == run_id, s.outbox.c.kind == "timer")
        )
        self.conn.execute(delete(s.subscriptions).where(s.subscriptions.c.run_id == run_id))
        self.conn.execute(
            update(s.tasks)
            .where(s.tasks.c.run_id == run_id, s.tasks.c.status == "open")
            .values(status="cancelled", closed_at=now)
        )

    # tasks
    def insert_task(self, row: TaskRow) -> None:
        self.conn.execute(
            insert(s.tasks).values(
                task_id=row.task_id,
                run_id=row.run_id,
                step=row.step,
                title=row.title,
                plant=row.plant,
                roles=dumps(row.roles),
                quorum=row.quorum,
                status=row.status,
                outcome=row.outcome,
                level=row.level,
                escalated_to=dumps(row.escalated_to),
                created_at=row.created_at,
                due_at=row.due_at,
                closed_at=row.closed_at,
            )
        )

    def task(self, task_id: str) -> TaskRow | None:
        row = self.conn.execute(select(s.tasks).where(s.tasks.c.task_id == task_id)).first()
        return _task_row(row) if row else None

    def update_task(self, task_id: str, **values: object) -> None:
        if "escalated_to" in values:
            values["escalated_to"] = dumps(values["escalated_to"])
        self.conn.execute(update(s.tasks).where(s.tasks.c.task_id == task_id).values(**values))

    # subscriptions and inbox
    def subscribe(
        self,
        run_id: str,
        step: str,
        event_type: str,
        key: str,
        now: float,
        expires_at: float | None,
    ) -> None:
        self.conn.execute(
            insert(s.subscriptions).values(
                run_id=run_id,
                step=step,
                event_type=event_type,
                correlation_key=key,
                created_at=now,
                expires_at=expires_at,
            )
        )

    def unsubscribe(self, run_id: str, step: str) -> None:
        self.conn.execute(
            delete(s.subscriptions).where(
                s.subscriptions.c.run_id == run_id, s.subscriptions.c.step == step
            )
        )

    def subscribers(self, event_type: str, key: str) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            select(s.subscriptions.c.run_id, s.subscriptions.c.step)
            .where(
                s.subscriptions.c.event_type == event_type, s.subscriptions.c.correlation_key == key
            )
            .order_by(s.subscriptions.c.created_at, s.subscriptions.c.run_id)
        ).all()
        return [(r.run_id, r.step) for r in rows]

    def record_inbound(
        self, source: str, event_id: str, event_type: str, key: str, data: str, now: float
    ) -> bool:
        """Insert into the inbox; False when ``(source, event_id)`` was seen before."""
        result = self.conn.execute(
            insert(s.inbox)
            .prefix_with("OR IGNORE")
            .values(
                source=source,
                event_id=event_id,
                event_type=event_type,
                correlation_key=key,
                data=data,
                received_at=now,
                matched_runs=0,
            )
        )
        return result.rowcount == 1

    def set_inbound_matches(self, source: str, event_id: str, count: int) -> None:
        self.conn.execute(
            update(s.inbox)
            .where(s.inbox.c.source == source, s.inbox.c.event_id == event_id)
            .values(matched_runs=count)
        )


class SqliteReader:
    """Read-only queries (see ``Reader`` in base.py)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def runs(self, status: str | None, limit: int) -> list[RunRow]:
        query = select(s.runs).order_by(s.runs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(s.runs.c.status == status)
        return [_run_row(r) for r in self.conn.execute(query)]

    def all_runs(self, run_ids: list[str]) -> list[RunRow]:
        return [
            _run_row(r)
            for r in self.conn.execute(select(s.runs).where(s.runs.c.run_id.in_(run_ids)))
        ]

    def run(self, run_id: str) -> RunRow | None:
        row = self.conn.execute(select(s.runs).where(s.runs.c.run_id == run_id)).first()
        return _run_row(row) if row else None

    def journal(self, run_id: str) -> list[JournalRow]:
        rows = self.conn.execute(
            select(s.run_events).where(s.run_events.c.run_id == run_id).order_by(s.run_events.c.seq)
        )
        return [_journal_row(r) for r in rows]

    def tasks(self, status: str | None, role: str | None, limit: int) -> list[TaskRow]:
        query = select(s.tasks).order_by(s.tasks.c.created_at, s.tasks.c.task_id)
        if status:
            query = query.where(s.tasks.c.status == status)
        rows = [_task_row(r) for r in self.conn.execute(query)]
        if role:
            rows = [t for t in rows if role in t.roles or role in t.escalated_to]
        return rows[:limit]

    def template(self, template_id: str, version: int | None) -> TemplateRow | None:
        return _template(self.conn, template_id, version)

    def templates(self) -> list[TemplateRow]:
        rows = self.conn.execute(
            select(s.templates).order_by(s.templates.c.template_id, s.templates.c.version)
        )
        return [
            TemplateRow(r.template_id, r.version, r.digest, r.title, r.source, r.published_at)
            for r in rows
        ]

    def outbox_depth(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(s.outbox)).scalar() or 0)

    def count_runs_by_status(self) -> dict[str, int]:
        rows = self.conn.execute(select(s.runs.c.status, func.count()).group_by(s.runs.c.status))
        return {str(r[0]): int(r[1]) for r in rows}


def _template(conn: Connection, template_id: str, version: int | None) -> TemplateRow | None:
    query = select(s.templates).where(s.templates.c.template_id == template_id)
    if version is not None:
        query = query.where(s.templates.c.version == version)
    row = conn.execute(query.order_by(s.templates.c.version.desc()).limit(1)).first()
    if row is None:
        return None
    return TemplateRow(
        row.template_id, row.version, row.digest, row.title, row.source, row.published_at
    )


def _overlay_row(row: Any) -> OverlayRow:
    return OverlayRow(row.digest, row.template_id, row.plant, json.loads(row.params), row.source)
