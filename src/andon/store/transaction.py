"""The statements of one transaction and the read-only queries, in SQLAlchemy Core.

Dialect-neutral: the SQLite store (and later PostgreSQL) hands these a connection.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select, update

from andon.core.contracts import EventContract
from andon.core.json import JsonObject
from andon.errors import StoreError
from andon.store import rows
from andon.store import schema as s
from andon.store import statements as q
from andon.store.analytics import AnalyticsReads
from andon.store.audit import AuditChains
from andon.store.base import (
    AdminRow,
    JournalRow,
    OutboxItem,
    OverlayRow,
    RunRow,
    TaskRow,
    TemplateRow,
)
from andon.store.contracts import ContractStatements, read_contract_versions, read_latest_contracts
from andon.store.dead_letters import (
    DeadLetter,
    DeadLetterStatements,
    read_dead_letter,
    read_dead_letters,
)
from andon.store.directory import DirectoryStatements
from andon.store.exports import ExportReads
from andon.store.metrics import MetricReads
from andon.store.overlays import PublishedOverlay, read_overlays
from andon.store.prepared import PreparedSet, WriteBehind
from andon.store.recorded import RecordedReads
from andon.store.repositories import Repositories
from andon.store.retention import RetentionRows
from andon.store.rollouts import RolloutReads
from andon.store.rows import dumps
from andon.store.run_migration import MigrationCandidates
from andon.store.tokens import InstallationTokens


class SqlTransaction(
    DirectoryStatements, ContractStatements, DeadLetterStatements, RolloutReads, Repositories
):
    """Statements of one write transaction (see ``Transaction`` in base.py).

    A transaction starts unscoped: only infrastructure statements (claiming outbox work,
    the directory of tenants and users) work on it. ``scoped(tenant)`` gives a view of the
    same transaction in which every statement is bound to that tenant's rows.
    """

    def __init__(
        self,
        conn: Connection,
        prepared: PreparedSet,
        tenant: str | None = None,
        root: SqlTransaction | None = None,
    ) -> None:
        self._conn = conn
        self._prepared = prepared
        self._tenant = tenant
        self._root = root or self
        self.enqueued = False
        """Whether this transaction queued work (so other processes' workers are told)."""
        self._subscribed: dict[str, bool] = {}
        self._latest: dict[tuple[str, str], int | None] = {}
        self._locked: dict[tuple[str, str], RunRow] = {}
        """Runs locked in this transaction, as last written: read once, then kept."""
        self._rollouts: dict[tuple[str, str], Any] = {}
        if root is None:
            raw = conn.connection.driver_connection
            assert raw is not None
            pipelined = raw if hasattr(raw, "pipeline") else None
            self._writes = WriteBehind(raw.cursor(), pipelined)
        else:
            self._writes = root._writes

    @property
    def dialect(self) -> str:
        return str(self._prepared.dialect.name)

    @property
    def conn(self) -> Connection:
        """The SQLAlchemy connection, for statements off the hot path; writes held back
        are sent first, so such statements see them."""
        self._writes.flush()
        return self._conn

    def flush(self) -> None:
        """Send the writes held back (the store calls it before commit)."""
        self._writes.flush()

    def scoped(self, tenant: str) -> SqlTransaction:
        """The same transaction, bound to ``tenant``."""
        return SqlTransaction(self._conn, self._prepared, tenant, root=self._root)

    def _connection(self) -> Connection:
        return self.conn

    def _rollout_memo(self) -> dict[tuple[str, str], Any]:
        return self._root._rollouts

    def _queued(self) -> None:
        self._root.enqueued = True

    @property
    def tenant(self) -> str:
        if not self._tenant:
            raise StoreError("a tenant-owned table was addressed without a tenant scope")
        return self._tenant

    # templates and overlays
    def insert_template(self, row: TemplateRow, published_by: str) -> None:
        self._root._latest.clear()
        self._exec(
            q.INSERT_TEMPLATE,
            {
                "tenant_id": self.tenant,
                "template_id": row.template_id,
                "version": row.version,
                "digest": row.digest,
                "title": row.title,
                "source": row.source,
                "published_at": row.published_at,
                "published_by": published_by,
            },
        )

    def template(self, template_id: str, version: int | None) -> TemplateRow | None:
        return template(self.conn, self.tenant, template_id, version)

    def has_subscriptions(self) -> bool:
        """Whether the tenant has any active outbound webhook subscription; asked once per
        transaction (a worker's batch folds many facts of a tenant in one)."""
        known = self._root._subscribed
        if self.tenant not in known:
            found = self._first(q.ANY_SUBSCRIPTION, {"b_tenant": self.tenant})
            known[self.tenant] = found is not None
        return known[self.tenant]

    def latest_templates(self) -> list[tuple[str, int]]:
        """(id, latest version) of every template of the tenant."""
        found = self._rows(q.LATEST_TEMPLATES, {"b_tenant": self.tenant})
        return [(str(r["template_id"]), int(r["version"])) for r in found]

    def latest_template_version(self, template_id: str) -> int | None:
        """Asked once per template and transaction (a batch of starts asks it per run)."""
        known = self._root._latest
        if (self.tenant, template_id) not in known:
            found = self._first(
                q.LATEST_TEMPLATE_VERSION, {"b_tenant": self.tenant, "template_id": template_id}
            )
            value = next(iter(found.values())) if found else None
            known[self.tenant, template_id] = int(value) if value is not None else None
        return known[self.tenant, template_id]

    def insert_overlay(self, row: OverlayRow, at: float) -> None:
        self._exec(
            q.INSERT_OVERLAY,
            {
                "tenant_id": self.tenant,
                "digest": row.digest,
                "template_id": row.template_id,
                "plant": row.plant,
                "params": dumps(row.params),
                "source": row.source,
                "published_at": at,
            },
        )

    def overlay(self, digest: str) -> OverlayRow | None:
        row = self._first(q.SELECT_OVERLAY, {"b_tenant": self.tenant, "digest": digest})
        return rows.overlay_row(row) if row else None

    def latest_overlay(self, template_id: str, plant: str) -> OverlayRow | None:
        found = self._first(
            q.SELECT_LATEST_OVERLAY,
            {"b_tenant": self.tenant, "template_id": template_id, "plant": plant},
        )
        return rows.overlay_row(found) if found else None

    # runs and journal
    def insert_run(self, row: RunRow) -> None:
        self._keep(row)
        self._later(
            q.INSERT_RUN,
            {
                "tenant_id": self.tenant,
                "run_id": row.run_id,
                "template_id": row.template_id,
                "template_version": row.template_version,
                "overlay_digest": row.overlay_digest,
                "plant": row.plant,
                "status": row.status,
                "outcome": row.outcome,
                "state": dumps(row.state),
                "revision": row.revision,
                "last_seq": row.last_seq,
                "last_hash": row.last_hash,
                "started_by": row.started_by,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "ended_at": row.ended_at,
            },
        )

    def run(self, run_id: str) -> RunRow | None:
        """The run, locked until commit (``FOR UPDATE``)."""
        known = self._root._locked.get((self.tenant, run_id))
        if known is not None:
            return known
        row = self._first(q.SELECT_RUN_FOR_UPDATE, {"b_tenant": self.tenant, "run_id": run_id})
        return self._keep(rows.run_row(row)) if row else None

    def lock_runs(self, run_ids: list[str]) -> None:
        """Lock and read these runs in one statement (PostgreSQL; on SQLite the writer holds
        the database already), so that folding a batch of facts reads none of them again."""
        wanted = sorted(set(run_ids) - {r for t, r in self._root._locked if t == self.tenant})
        if wanted and self._prepared.dialect.name == "postgresql":
            params = {"b_tenant": self.tenant, "b_run_ids": wanted}
            for row in self._rows(q.LOCK_RUNS, params):
                self._keep(rows.run_row(row))

    def _keep(self, row: RunRow) -> RunRow:
        self._root._locked[self.tenant, row.run_id] = row
        return row

    def update_run(self, row: RunRow, expected_revision: int) -> None:
        self._keep(row)
        self._later(
            q.UPDATE_RUN,
            {
                "b_tenant": self.tenant,
                "b_run_id": row.run_id,
                "b_revision": expected_revision,
                "template_version": row.template_version,
                "status": row.status,
                "outcome": row.outcome,
                "state": dumps(row.state),
                "revision": row.revision,
                "last_seq": row.last_seq,
                "last_hash": row.last_hash,
                "updated_at": row.updated_at,
                "ended_at": row.ended_at,
            },
            stale=f"run {row.run_id} changed since revision {expected_revision}",
        )

    def append_journal(self, row: JournalRow) -> None:
        self._later(
            q.INSERT_JOURNAL,
            {
                "tenant_id": self.tenant,
                "run_id": row.run_id,
                "seq": row.seq,
                "type": row.type,
                "body": dumps(row.body),
                "trace": dumps(row.trace),
                "actor": row.actor,
                "at": row.at,
                "hash": row.hash,
            },
        )

    # outbox
    def enqueue(
        self,
        run_id: str,
        key: str,
        kind: str,
        body: JsonObject,
        due_at: float,
        now: float,
        lease_owner: str | None = None,
        on_id: Callable[[int], None] | None = None,
    ) -> None:
        """Add work (held back); with ``lease_owner`` it is born leased until ``due_at``.
        ``on_id`` gets the new row's id once it is written, before commit."""
        params = {
            "tenant_id": self.tenant,
            "run_id": run_id,
            "key": key,
            "kind": kind,
            "body": dumps(body),
            "due_at": due_at,
            "lease_owner": lease_owner,
            "lease_expires_at": due_at if lease_owner else None,
            "attempts": 1 if lease_owner else 0,
            "created_at": now,
        }
        if lease_owner is None:
            self._queued()  # others may claim it: tell them (work born leased is not theirs)
        if on_id is None:
            self._later(q.INSERT_OUTBOX_QUIETLY, params)
        else:
            self._later(q.INSERT_OUTBOX, params, on_row=lambda row: on_id(int(row[0])))

    def dequeue(self, run_id: str, key: str) -> None:
        self._later(
            q.DELETE_OUTBOX_KEY, {"b_tenant": self.tenant, "b_run_id": run_id, "b_key": key}
        )

    def claim(
        self, owner: str, now: float, lease_s: float, limit: int, run_prefix: str = ""
    ) -> list[OutboxItem]:
        """Lease due rows. A lease pushes ``due_at`` to its expiry, so an abandoned row
        becomes due again by itself and the claim query needs only the due index."""
        runs = _prefix_params(run_prefix)
        tenants = [r["tenant_id"] for r in self._rows(q.DUE_TENANTS, {"b_now": now, **runs})]
        if not tenants:
            return []  # the probe is cheap; the UPDATE ... RETURNING is not
        share = max(1, limit // len(tenants))
        found: list[dict[str, Any]] = []
        for tenant in tenants:
            found += self._rows(
                q.CLAIM_OUTBOX,
                {
                    "b_now": now,
                    "b_limit": share,
                    "b_owner": owner,
                    "b_expires": now + lease_s,
                    "b_tenant": tenant,
                    **runs,
                },
            )
        items = [
            OutboxItem(
                r["id"],
                r["tenant_id"],
                r["run_id"],
                r["key"],
                r["kind"],
                json.loads(r["body"]),
                r["created_at"],
                r["attempts"],
            )
            for r in found
        ]
        items.sort(key=lambda i: i.id)
        return items

    def extend_lease(self, item: OutboxItem, owner: str, expires: float) -> bool:
        """Keep a lease alive while its work runs (False: the lease was lost already)."""
        params = {"b_id": item.id, "b_owner": owner, "b_expires": expires}
        return self._exec(q.EXTEND_LEASE, params).rowcount == 1

    def unlease(self, item: OutboxItem, owner: str, now: float) -> bool:
        """Give back a row this owner leased but will not run (a worker shutting down)."""
        params = {"b_id": item.id, "b_owner": owner, "b_now": now}
        return self._exec(q.UNLEASE_OUTBOX, params).rowcount == 1

    def release(self, item: OutboxItem, owner: str) -> bool:
        """Delete a finished row if this owner still holds its lease (fencing)."""
        return self._exec(q.RELEASE_OUTBOX, {"b_id": item.id, "b_owner": owner}).rowcount == 1

    def release_all(self, items: list[OutboxItem], owner: str) -> set[int]:
        """``release`` for a batch: the ids of the rows this owner still held, now deleted."""
        if self._prepared.dialect.name != "postgresql":
            return {item.id for item in items if self.release(item, owner)}
        params = {"b_ids": [item.id for item in items], "b_owner": owner}
        return {int(row["id"]) for row in self._rows(q.RELEASE_OUTBOX_ALL, params)}

    def next_due_at(self) -> float | None:
        found = self._first(q.NEXT_DUE, {})
        value = next(iter(found.values())) if found else None
        return float(value) if value is not None else None

    def end_run_work(self, run_id: str, now: float) -> None:
        scope = {"b_tenant": self.tenant, "b_run_id": run_id}
        self._later(q.DELETE_RUN_TIMERS, scope)
        self._later(q.DELETE_RUN_SUBSCRIPTIONS, scope)
        self._later(q.CANCEL_RUN_TASKS, {**scope, "b_now": now})

    # tasks
    def insert_task(self, row: TaskRow) -> None:
        self._later(
            q.INSERT_TASK,
            {
                "tenant_id": self.tenant,
                "task_id": row.task_id,
                "run_id": row.run_id,
                "step": row.step,
                "title": row.title,
                "plant": row.plant,
                "roles": dumps(row.roles),
                "quorum": row.quorum,
                "status": row.status,
                "outcome": row.outcome,
                "level": row.level,
                "escalated_to": dumps(row.escalated_to),
                "created_at": row.created_at,
                "due_at": row.due_at,
                "closed_at": row.closed_at,
                "claimed_by": row.claimed_by,
                "claimed_at": row.claimed_at,
            },
        )

    def task(self, task_id: str) -> TaskRow | None:
        row = self._first(q.SELECT_TASK, {"b_tenant": self.tenant, "task_id": task_id})
        return rows.task_row(row) if row else None

    def tasks_by_id(self, task_ids: list[str]) -> dict[str, TaskRow]:
        """These tasks read in one statement (PostgreSQL), each as it was at the read; on
        SQLite none (a read there is no round trip): callers fall back to ``task``."""
        if not task_ids or self._prepared.dialect.name != "postgresql":
            return {}
        params = {"b_tenant": self.tenant, "b_task_ids": sorted(set(task_ids))}
        found = (rows.task_row(row) for row in self._rows(q.SELECT_TASKS_BY_ID, params))
        return {task.task_id: task for task in found}

    def close_task(self, task_id: str, outcome: str, now: float) -> None:
        self._later(
            q.CLOSE_TASK,
            {"b_tenant": self.tenant, "b_task_id": task_id, "b_outcome": outcome, "b_now": now},
        )

    def update_task(self, task_id: str, **values: object) -> None:
        if "escalated_to" in values:
            values["escalated_to"] = dumps(values["escalated_to"])
        self.conn.execute(
            update(s.tasks)
            .where(s.tasks.c.tenant_id == self.tenant, s.tasks.c.task_id == task_id)
            .values(**values)
        )

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
        self._later(
            q.INSERT_SUBSCRIPTION,
            {
                "tenant_id": self.tenant,
                "run_id": run_id,
                "step": step,
                "event_type": event_type,
                "correlation_key": key,
                "created_at": now,
                "expires_at": expires_at,
            },
        )

    def unsubscribe(self, run_id: str, step: str) -> None:
        self._later(
            q.DELETE_SUBSCRIPTION, {"b_tenant": self.tenant, "b_run_id": run_id, "b_step": step}
        )

    def subscribers(self, event_type: str, key: str) -> list[tuple[str, str]]:
        found = self._rows(
            q.SELECT_SUBSCRIBERS, {"b_tenant": self.tenant, "event_type": event_type, "key": key}
        )
        return [(r["run_id"], r["step"]) for r in found]

    def record_inbound(
        self,
        source: str,
        event_id: str,
        event_type: str,
        key: str,
        data: str,
        now: float,
        plant: str = "",
    ) -> bool:
        """Insert into the inbox; False when ``(source, event_id)`` was seen before."""
        result = self._exec(
            q.INSERT_INBOX_IGNORE[self._prepared.dialect.name],
            {
                "tenant_id": self.tenant,
                "source": source,
                "event_id": event_id,
                "event_type": event_type,
                "correlation_key": key,
                "data": data,
                "received_at": now,
                "matched_runs": 0,
                "plant": plant,
            },
        )
        return result.rowcount == 1

    def lock_correlation(self, event_type: str, key: str) -> None:
        """Serialize, until commit, the transactions that take in an event of this type and
        key and those that begin waiting for one, so that neither misses the other. SQLite
        has one writer at a time already; PostgreSQL takes a transaction advisory lock."""
        if self._prepared.dialect.name != "postgresql":
            return
        digest = hashlib.sha256(f"{self.tenant}\0{event_type}\0{key}".encode()).digest()
        self.conn.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(lock)s)",
            {"lock": int.from_bytes(digest[:8], "big", signed=True)},
        )

    def early_events(
        self, run_id: str, event_type: str, key: str, since: float
    ) -> list[tuple[str, str, str]]:
        """(source, event id, data) of the events of this type and key that arrived from
        ``since`` on and that the run has not received, oldest first."""
        params = {"b_tenant": self.tenant, "event_type": event_type, "key": key, "since": since}
        candidates = self.conn.execute(q.SELECT_EARLY_EVENTS, params).all()
        if not candidates:
            return []
        received = self.conn.execute(
            q.SELECT_RECEIVED_EVENTS, {"b_tenant": self.tenant, "run_id": run_id}
        )
        seen = {(actor, json.loads(body).get("event_id")) for actor, body in received}
        return [
            (str(source), str(event_id), str(data))
            for source, event_id, data in candidates
            if (f"event:{source}", event_id) not in seen
        ]

    def count_inbound_match(self, source: str, event_id: str) -> None:
        self._later(
            q.COUNT_INBOX_MATCH,
            {"b_tenant": self.tenant, "b_source": source, "b_event_id": event_id},
        )

    def set_inbound_matches(self, source: str, event_id: str, count: int) -> None:
        self._exec(
            q.UPDATE_INBOX_MATCHES,
            {
                "b_tenant": self.tenant,
                "b_source": source,
                "b_event_id": event_id,
                "matched_runs": count,
            },
        )

    # ---- repositories (ADR 0035): those a reader has too come from ``Repositories`` ----

    @property
    def retention(self) -> RetentionRows:
        return RetentionRows(self.conn, self.tenant)


class SqlReader(RolloutReads, Repositories):
    """Read-only queries (see ``Reader`` in base.py); ``scoped`` binds them to a tenant."""

    def __init__(self, conn: Connection, tenant: str | None = None) -> None:
        self.conn = conn
        self._tenant = tenant
        self._rollouts: dict[tuple[str, str], Any] = {}

    def _connection(self) -> Connection:
        return self.conn

    def _rollout_memo(self) -> dict[tuple[str, str], Any]:
        return self._rollouts

    def scoped(self, tenant: str) -> SqlReader:
        return SqlReader(self.conn, tenant)

    def site_exists(self, site_id: str) -> bool:
        found = self.conn.execute(q.SELECT_SITE, {"b_tenant": self.tenant, "site_id": site_id})
        return found.first() is not None

    @property
    def tenant(self) -> str:
        if not self._tenant:
            raise StoreError("a tenant-owned table was read without a tenant scope")
        return self._tenant

    def runs(
        self,
        status: str | None,
        limit: int,
        sites: frozenset[str] | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[RunRow]:
        """Newest first; ``before`` (created_at, run_id) continues a page (keyset paging)."""
        query = (
            select(s.runs)
            .where(s.runs.c.tenant_id == self.tenant)
            .order_by(s.runs.c.created_at.desc(), s.runs.c.run_id.desc())
            .limit(limit)
        )
        if before is not None:
            created, run_id = before
            query = query.where(
                (s.runs.c.created_at < created)
                | ((s.runs.c.created_at == created) & (s.runs.c.run_id < run_id))
            )
        if status:
            query = query.where(s.runs.c.status == status)
        if sites is not None:
            query = query.where(s.runs.c.plant.in_(sorted(sites)))
        return [rows.run_row(r._mapping) for r in self.conn.execute(query)]

    def latest_templates(self) -> list[tuple[str, int]]:
        """(id, latest version) of every template of the tenant."""
        found = self.conn.execute(q.LATEST_TEMPLATES, {"b_tenant": self.tenant})
        return [(str(r.template_id), int(r.version)) for r in found]

    def latest_overlay(self, template_id: str, plant: str) -> OverlayRow | None:
        params = {"b_tenant": self.tenant, "template_id": template_id, "plant": plant}
        found = self.conn.execute(q.SELECT_LATEST_OVERLAY, params).first()
        return rows.overlay_row(found._mapping) if found else None

    def overlays(self, template_id: str, plant: str | None = None) -> list[PublishedOverlay]:
        return read_overlays(self.conn, self.tenant, template_id, plant)

    def subscribers(self, event_type: str, key: str) -> list[tuple[str, str]]:
        params = {"b_tenant": self.tenant, "event_type": event_type, "key": key}
        found = self.conn.execute(q.SELECT_SUBSCRIBERS, params)
        return [(str(r.run_id), str(r.step)) for r in found]

    def runs_by_id(self, run_ids: list[str]) -> list[RunRow]:
        query = select(s.runs).where(
            s.runs.c.tenant_id == self.tenant, s.runs.c.run_id.in_(run_ids)
        )
        return [rows.run_row(r._mapping) for r in self.conn.execute(query)]

    def tasks_by_id(self, task_ids: list[str]) -> dict[str, TaskRow]:
        query = select(s.tasks).where(
            s.tasks.c.tenant_id == self.tenant, s.tasks.c.task_id.in_(task_ids)
        )
        found = (rows.task_row(r._mapping) for r in self.conn.execute(query))
        return {task.task_id: task for task in found}

    def any_due(self, now: float, run_prefix: str = "") -> bool:
        """Whether a claim would find work: a read, so idle workers never take the write lock."""
        params = {"b_now": now, **_prefix_params(run_prefix)}
        return self.conn.execute(q.ANY_DUE, params).first() is not None

    def run(self, run_id: str) -> RunRow | None:
        row = self.conn.execute(q.SELECT_RUN, {"b_tenant": self.tenant, "run_id": run_id}).first()
        return rows.run_row(row._mapping) if row else None

    def journal(self, run_id: str) -> list[JournalRow]:
        params = {"b_tenant": self.tenant, "run_id": run_id}
        return [rows.journal_row(r._mapping) for r in self.conn.execute(q.SELECT_JOURNAL, params)]

    def tasks(
        self,
        status: str | None,
        role: str | None,
        limit: int,
        sites: frozenset[str] | None = None,
    ) -> list[TaskRow]:
        query = (
            select(s.tasks)
            .where(s.tasks.c.tenant_id == self.tenant)
            .order_by(s.tasks.c.created_at, s.tasks.c.task_id)
        )
        if status:
            query = query.where(s.tasks.c.status == status)
        if sites is not None:
            query = query.where(s.tasks.c.plant.in_(sorted(sites)))
        found = [rows.task_row(r._mapping) for r in self.conn.execute(query)]
        if role:
            found = [t for t in found if role in t.roles or role in t.escalated_to]
        return found[:limit]

    def task(self, task_id: str) -> TaskRow | None:
        row = self.conn.execute(
            q.SELECT_TASK, {"b_tenant": self.tenant, "task_id": task_id}
        ).first()
        return rows.task_row(row._mapping) if row else None

    def template(self, template_id: str, version: int | None) -> TemplateRow | None:
        return template(self.conn, self.tenant, template_id, version)

    def templates(self) -> list[TemplateRow]:
        found = self.conn.execute(q.SELECT_TEMPLATES, {"b_tenant": self.tenant})
        return [rows.template_row(r._mapping) for r in found]

    def latest_contracts(self) -> list[EventContract]:
        return read_latest_contracts(self.conn, self.tenant)

    def contract_versions(self, event_type: str) -> list[EventContract]:
        return read_contract_versions(self.conn, self.tenant, event_type)

    def dead_letters(self, *, open_only: bool = True, limit: int = 200) -> list[DeadLetter]:
        return read_dead_letters(self.conn, self.tenant, open_only=open_only, limit=limit)

    def dead_letter(self, letter_id: str) -> DeadLetter | None:
        return read_dead_letter(self.conn, self.tenant, letter_id)

    def outbox_depth(self) -> int:
        return int(self.conn.execute(q.OUTBOX_DEPTH).scalar() or 0)

    def fact_count(self) -> int:
        return int(self.conn.execute(q.COUNT_FACTS, {"b_tenant": self.tenant}).scalar() or 0)

    def count_runs_by_status(self) -> dict[str, int]:
        found = self.conn.execute(q.COUNT_RUNS_BY_STATUS, {"b_tenant": self.tenant})
        return {str(r[0]): int(r[1]) for r in found}

    def admin_log(self) -> list[AdminRow]:
        query = (
            select(s.admin_log)
            .where(s.admin_log.c.tenant_id == self.tenant)
            .order_by(s.admin_log.c.seq)
        )
        return [rows.admin_row(r._mapping) for r in self.conn.execute(query)]

    def tenant_ids(self) -> list[str]:
        found = self.conn.execute(select(s.tenants.c.tenant_id).order_by(s.tenants.c.tenant_id))
        return [str(r[0]) for r in found]

    # ---- repositories (ADR 0035): those a transaction has too come from ``Repositories`` ----

    @property
    def analytics(self) -> AnalyticsReads:
        return AnalyticsReads(self.conn, self.tenant)

    @property
    def audit_chains(self) -> AuditChains:
        return AuditChains(self.conn, self.tenant)

    @property
    def exports(self) -> ExportReads:
        return ExportReads(self.conn, self.tenant)

    @property
    def installation_metrics(self) -> MetricReads:
        """Every tenant's counts, each row labelled with its tenant (``/metrics``)."""
        return MetricReads(self.conn)

    @property
    def installation_tokens(self) -> InstallationTokens:
        return InstallationTokens(self.conn)

    @property
    def migration_candidates(self) -> MigrationCandidates:
        return MigrationCandidates(self.conn, self.tenant)

    @property
    def recorded(self) -> RecordedReads:
        return RecordedReads(self.conn, self.tenant)


def template(
    conn: Connection, tenant: str, template_id: str, version: int | None
) -> TemplateRow | None:
    params: dict[str, object] = {"b_tenant": tenant, "template_id": template_id}
    if version is None:
        row = conn.execute(q.SELECT_TEMPLATE_LATEST, params).first()
    else:
        row = conn.execute(q.SELECT_TEMPLATE_VERSION, {**params, "version": version}).first()
    return rows.template_row(row._mapping) if row else None


def _prefix_params(run_prefix: str) -> dict[str, object]:
    """Parameters of the run-id prefix filter; an empty prefix matches every run."""
    return {"b_prefix_len": len(run_prefix), "b_prefix": run_prefix}
