"""Facts about a run. Each one becomes one journal row; the engine folds them into state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from andon.core.json import JsonObject, JsonValue


@dataclass(frozen=True, slots=True)
class RunStarted:
    template_id: str
    template_version: int
    overlay_digest: str
    plant: str
    input: JsonObject
    params: JsonObject
    started_by: str = "system"


@dataclass(frozen=True, slots=True)
class StepSucceeded:
    step: str
    attempt: int
    output: JsonValue = None


@dataclass(frozen=True, slots=True)
class StepFailed:
    step: str
    attempt: int
    error: str
    permanent: bool = False
    timed_out: bool = False
    draw: float = 0.5
    """Uniform [0, 1) number drawn by the worker for retry jitter; journaled for replay."""


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    step: str
    task_id: str
    actor: str
    outcome: str
    role: str = ""
    comment: str = ""
    on_behalf_of: str = ""
    """Set when the actor decided under a delegation from this person."""
    signature: JsonObject | None = None
    """The electronic signature manifest when the step requires one (printed name, meaning,
    reason, time, method and the digest of the signed record)."""


@dataclass(frozen=True, slots=True)
class TaskClaimed:
    step: str
    task_id: str
    actor: str
    role: str = ""
    on_behalf_of: str = ""


@dataclass(frozen=True, slots=True)
class TaskReleased:
    """The person who claimed a task gives it back to the candidates."""

    step: str
    task_id: str
    actor: str


@dataclass(frozen=True, slots=True)
class PolicyViolated:
    """Someone was refused by a governance rule; the attempt is on the record too."""

    step: str
    task_id: str
    actor: str
    attempted: str
    rule: str
    message: str
    on_behalf_of: str = ""


@dataclass(frozen=True, slots=True)
class EventReceived:
    step: str
    event_type: str
    key: str
    data: JsonValue = None
    event_id: str = ""


@dataclass(frozen=True, slots=True)
class TimerFired:
    key: str


@dataclass(frozen=True, slots=True)
class RunCancelled:
    reason: str
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class RunMigrated:
    """The run moves from one version of its template to another (ADR 0032): each waiting
    step goes on as the step of the same id in the new version, or the one ``mapping``
    names for it."""

    from_version: int
    to_version: int
    mapping: JsonObject
    """Old step id to new step id, as given (only the run's current steps use it)."""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class IncidentRetried:
    actor: str = "system"
    comment: str = ""


Event: TypeAlias = (
    RunStarted
    | StepSucceeded
    | StepFailed
    | TaskCompleted
    | EventReceived
    | TimerFired
    | RunCancelled
    | IncidentRetried
    | TaskClaimed
    | TaskReleased
    | PolicyViolated
    | RunMigrated
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        RunStarted,
        StepSucceeded,
        StepFailed,
        TaskCompleted,
        EventReceived,
        TimerFired,
        RunCancelled,
        IncidentRetried,
        TaskClaimed,
        TaskReleased,
        PolicyViolated,
        RunMigrated,
    )
}
