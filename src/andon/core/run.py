"""The folded state of one run: status, per-step state and where its tokens are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from andon.core.json import JsonObject, JsonValue


class RunStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    INCIDENT = "incident"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RETRYING = "retrying"
    WAITING = "waiting"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class StepState:
    status: StepStatus = StepStatus.PENDING
    visit: int = 0
    """How often the step was entered; loops (wait -> remind -> wait) raise it."""
    attempt: int = 0
    """Action attempts over all visits, never reused: tells a late outcome from the current
    one and goes out as ``Andon-Attempt``."""
    activation: int = 0
    """The journal seq of the fact that entered the step for this visit: the idempotency
    key's last part, so every attempt of one visit shares a key and a loop's next visit
    gets a new one (0: never entered)."""
    tries: int = 0
    """Action attempts in the current visit; what the retry policy counts."""
    output: JsonValue = None
    error: str | None = None
    detail: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    status: RunStatus = RunStatus.CREATED
    template_id: str = ""
    template_version: int = 0
    overlay_digest: str = ""
    plant: str = ""
    input: JsonObject = field(default_factory=dict)
    params: JsonObject = field(default_factory=dict)
    steps: Mapping[str, StepState] = field(default_factory=dict)
    active: tuple[str, ...] = ()
    joins: Mapping[str, int] = field(default_factory=dict)
    outcome: str | None = None
    incident: str | None = None
    seq: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    started_by: str = ""

    def step(self, step_id: str) -> StepState:
        return self.steps.get(step_id) or StepState()
