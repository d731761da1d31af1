"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from andon.store.base import JournalRow, RunRow, TaskRow

Json = dict[str, Any]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Login(Strict):
    tenant: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    token_id: str
    token: str
    expires_at: float


class TokenRequest(Strict):
    user: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    roles: list[str] = Field(default_factory=list, max_length=50)
    sites: list[str] = Field(default_factory=list, max_length=50)
    days: int = Field(default=90, ge=1, le=366)


class TokenInfoOut(BaseModel):
    token_id: str
    user_id: str
    name: str
    kind: str
    roles: list[str]
    sites: list[str]
    created_at: float
    expires_at: float
    revoked_at: float | None


class TemplateSource(Strict):
    source: str = Field(min_length=1, max_length=1_000_000, description="YAML 1.2 text")
    name: str = Field(default="", max_length=200, description="File name, for messages")


class TemplateOut(BaseModel):
    id: str
    version: int
    digest: str
    title: str


class TemplateDetail(TemplateOut):
    source: str
    published_at: float


class DiffOut(BaseModel):
    template_id: str
    from_version: int
    to_version: int
    diff: str
    """Unified diff of the two YAML sources (empty when identical)."""


class ValidationOut(BaseModel):
    valid: bool
    problems: list[str]


class OverlayOut(BaseModel):
    template_id: str
    plant: str
    digest: str


class StartRun(Strict):
    template: str = Field(min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    stage: str | None = Field(
        default=None, min_length=1, max_length=32, description="the version in force there"
    )
    plant: str = Field(default="", max_length=64)
    input: Json = Field(default_factory=dict)


class RunOut(BaseModel):
    run_id: str
    template_id: str
    template_version: int
    plant: str
    status: str
    outcome: str | None
    started_by: str
    created_at: float
    updated_at: float
    ended_at: float | None
    last_seq: int

    @classmethod
    def of(cls, row: RunRow) -> RunOut:
        return cls(
            run_id=row.run_id, template_id=row.template_id,
            template_version=row.template_version, plant=row.plant, status=row.status,
            outcome=row.outcome, started_by=row.started_by, created_at=row.created_at,
            updated_at=row.updated_at, ended_at=row.ended_at, last_seq=row.last_seq,
        )  # fmt: skip


class FactOut(BaseModel):
    seq: int
    type: str
    actor: str
    at: float
    body: Json
    trace: list[Json]
    hash: str

    @classmethod
    def of(cls, row: JournalRow) -> FactOut:
        return cls(seq=row.seq, type=row.type, actor=row.actor, at=row.at, body=row.body,
                   trace=list(row.trace), hash=row.hash)  # fmt: skip


class RunDetail(RunOut):
    journal: list[FactOut]


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


class Started(BaseModel):
    run_id: str
    created: bool


class Intervention(Strict):
    text: str = Field(default="", max_length=2000)


class TaskOut(BaseModel):
    task_id: str
    run_id: str
    step: str
    title: str
    plant: str
    roles: list[str]
    quorum: str
    status: str
    outcome: str | None
    escalated_to: list[str]
    created_at: float
    due_at: float | None
    claimed_by: str | None

    @classmethod
    def of(cls, row: TaskRow) -> TaskOut:
        return cls(
            task_id=row.task_id, run_id=row.run_id, step=row.step, title=row.title,
            plant=row.plant, roles=row.roles, quorum=row.quorum, status=row.status,
            outcome=row.outcome, escalated_to=row.escalated_to, created_at=row.created_at,
            due_at=row.due_at, claimed_by=row.claimed_by,
        )  # fmt: skip


class Signature(Strict):
    password: str = Field(min_length=1, max_length=1024)
    reason: str = Field(default="", max_length=2000)
    second_factor: str | None = Field(default=None, max_length=64)


class DecisionIn(Strict):
    outcome: str = Field(default="approve", min_length=1, max_length=64)
    comment: str = Field(default="", max_length=4000)
    role: str = Field(default="", max_length=64)
    signature: Signature | None = None


class DecisionOut(BaseModel):
    task_id: str
    outcome: str
    run_status: str


class EventIn(Strict):
    type: str = Field(
        min_length=3, max_length=200, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
    )
    key: str = Field(min_length=1, max_length=500)
    data: Any = Field(default_factory=dict)
    id: str | None = Field(default=None, min_length=1, max_length=200)
    source: str = Field(default="api", min_length=1, max_length=200)
    plant: str = Field(default="", max_length=64, description="Where runs it starts belong")


class EventOut(BaseModel):
    reached: int
    started: list[str] = Field(default_factory=list)
    duplicate: bool = False
    dead_letter: str | None = Field(
        default=None, description="The dead letter it became when it could not be taken in"
    )


class EventsIn(Strict):
    events: list[EventIn] = Field(min_length=1, max_length=500)


class EventsOut(BaseModel):
    results: list[EventOut]


class UserIn(Strict):
    user_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    service: bool = False
    password: str | None = Field(default=None, min_length=10, max_length=1024)
    roles: list[str] = Field(default_factory=list, max_length=50, description="ROLE or ROLE@SITE")


class UserOut(BaseModel):
    user_id: str


class GrantIn(Strict):
    role: str = Field(min_length=1, max_length=64)
    site: str = Field(default="", max_length=64)


class VerifyOut(BaseModel):
    ok: bool
    runs: int
    journal_rows: int
    signatures: int
    admin_rows: int
    checkpoints: int
    problems: list[str]
