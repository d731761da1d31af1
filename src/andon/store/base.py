"""The persistence seam: what the runtime needs from a database, whatever the technology."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from andon.core.json import JsonObject


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    tenant_id: str
    run_id: str
    key: str
    kind: str
    body: JsonObject
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    template_id: str
    template_version: int
    overlay_digest: str
    plant: str
    status: str
    outcome: str | None
    state: JsonObject
    revision: int
    last_seq: int
    last_hash: str
    started_by: str
    created_at: float
    updated_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class JournalRow:
    run_id: str
    seq: int
    type: str
    body: JsonObject
    trace: list[JsonObject]
    actor: str
    at: float
    hash: str


@dataclass(frozen=True, slots=True)
class TaskRow:
    task_id: str
    run_id: str
    step: str
    title: str
    plant: str
    roles: list[str]
    quorum: str
    status: str
    outcome: str | None
    level: int
    escalated_to: list[str]
    created_at: float
    due_at: float | None
    closed_at: float | None
    claimed_by: str | None = None
    claimed_at: float | None = None


@dataclass(frozen=True, slots=True)
class TemplateRow:
    template_id: str
    version: int
    digest: str
    title: str
    source: str
    published_at: float


@dataclass(frozen=True, slots=True)
class OverlayRow:
    digest: str
    template_id: str
    plant: str
    params: JsonObject
    source: str


@dataclass(frozen=True, slots=True)
class UserRow:
    user_id: str
    tenant_id: str | None
    partner_id: str | None
    name: str
    kind: str
    password_hash: str | None
    active: bool
    failed_logins: int
    locked_until: float | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AdminRow:
    """One entry of a tenant's chain of administrative acts."""

    tenant_id: str
    seq: int
    action: str
    subject: str
    body: JsonObject
    actor: str
    at: float
    hash: str


class Transaction(Protocol):
    """One database transaction; everything in it commits together or not at all."""

    def insert_template(self, row: TemplateRow, published_by: str) -> None: ...
    def template(self, template_id: str, version: int | None) -> TemplateRow | None: ...
    def latest_template_version(self, template_id: str) -> int | None: ...
    def insert_overlay(self, row: OverlayRow, at: float) -> None: ...
    def overlay(self, digest: str) -> OverlayRow | None: ...
    def latest_overlay(self, template_id: str, plant: str) -> OverlayRow | None: ...

    def insert_run(self, row: RunRow) -> None: ...
    def run(self, run_id: str) -> RunRow | None: ...
    def update_run(self, row: RunRow, expected_revision: int) -> None: ...
    def append_journal(self, row: JournalRow) -> None: ...

    def enqueue(
        self,
        run_id: str,
        key: str,
        kind: str,
        body: JsonObject,
        due_at: float,
        now: float,
        lease_owner: str | None = None,
    ) -> int: ...
    def dequeue(self, run_id: str, key: str) -> None: ...
    def claim(
        self, owner: str, now: float, lease_s: float, limit: int, run_prefix: str = ""
    ) -> list[OutboxItem]: ...
    def release(self, item: OutboxItem, owner: str) -> bool: ...
    def next_due_at(self) -> float | None: ...
    def end_run_work(self, run_id: str, now: float) -> None: ...

    def insert_task(self, row: TaskRow) -> None: ...
    def task(self, task_id: str) -> TaskRow | None: ...
    def update_task(self, task_id: str, **values: object) -> None: ...

    def subscribe(
        self,
        run_id: str,
        step: str,
        event_type: str,
        key: str,
        now: float,
        expires_at: float | None,
    ) -> None: ...
    def unsubscribe(self, run_id: str, step: str) -> None: ...
    def subscribers(self, event_type: str, key: str) -> list[tuple[str, str]]: ...
    def record_inbound(
        self, source: str, event_id: str, event_type: str, key: str, data: str, now: float
    ) -> bool: ...
    def set_inbound_matches(self, source: str, event_id: str, count: int) -> None: ...


class Reader(Protocol):
    """Read-only queries for shells and reports."""

    def runs(self, status: str | None, limit: int) -> list[RunRow]: ...
    def run(self, run_id: str) -> RunRow | None: ...
    def journal(self, run_id: str) -> list[JournalRow]: ...
    def tasks(self, status: str | None, role: str | None, limit: int) -> list[TaskRow]: ...
    def any_due(self, now: float, run_prefix: str = "") -> bool: ...
    def outbox_depth(self) -> int: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]: ...
    def reader(self) -> AbstractContextManager[Reader]: ...
    def close(self) -> None: ...
