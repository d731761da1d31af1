"""Rows as the store hands them to the runtime (the store seam itself is ``store/sql.py``)."""

from __future__ import annotations

from dataclasses import dataclass

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

    def may_hold_grants_in(self, tenant_id: str, managing_partner: str | None) -> bool:
        """Whether the user may be granted roles in the tenant: one of its own users, or a
        user of the partner that manages it."""
        return self.tenant_id == tenant_id or (
            self.partner_id is not None and self.partner_id == managing_partner
        )


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
