"""Requests the engine makes of the outside world. The runtime writes them to the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from andon.core.json import JsonObject, JsonValue


@dataclass(frozen=True, slots=True)
class RunAction:
    step: str
    action: str
    input: JsonObject
    attempt: int
    idempotency_key: str
    timeout: timedelta | None = None


@dataclass(frozen=True, slots=True)
class OpenTask:
    step: str
    task_id: str
    title: str
    roles: tuple[str, ...]
    quorum: str
    due_at: datetime | None = None
    context: JsonValue = None


@dataclass(frozen=True, slots=True)
class EscalateTask:
    step: str
    task_id: str
    role: str
    level: int


@dataclass(frozen=True, slots=True)
class CloseTask:
    task_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    key: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: str


@dataclass(frozen=True, slots=True)
class AwaitEvent:
    step: str
    event_type: str
    key: str
    expires_at: datetime | None = None
    since: datetime | None = None
    """The earliest arrival the wait takes: an event already in the inbox from then on,
    not yet received by this run, is delivered at once."""


@dataclass(frozen=True, slots=True)
class StopAwaiting:
    step: str


@dataclass(frozen=True, slots=True)
class CompleteRun:
    status: str
    outcome: str


Command: TypeAlias = (
    RunAction
    | OpenTask
    | EscalateTask
    | CloseTask
    | StartTimer
    | CancelTimer
    | AwaitEvent
    | StopAwaiting
    | CompleteRun
)
