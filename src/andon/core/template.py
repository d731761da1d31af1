"""A validated, immutable workflow template: parameters, input schema, triggers and steps.

Templates are built by ``andon.core.loader`` from YAML; nothing here parses text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Literal, TypeAlias

from andon.core.expressions import Expression
from andon.core.json import JsonObject, JsonValue
from andon.errors import ExpressionError, InputError


class ParamType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    MONEY = "money"
    DURATION = "duration"
    ROLE = "role"
    LIST = "list"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParamType
    default: JsonValue
    description: str = ""


@dataclass(frozen=True, slots=True)
class ParamRef:
    """A ``$name`` reference to a template parameter, resolved per run."""

    name: str


DurationRef: TypeAlias = timedelta | ParamRef
RoleRef: TypeAlias = str | ParamRef


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; the caller draws the random number."""

    max_attempts: int = 3
    initial: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    max_delay: timedelta = timedelta(minutes=5)
    jitter: float = 0.1

    def delay(self, tries: int, draw: float) -> timedelta | None:
        """Delay before try ``tries + 1`` after ``tries`` failures, or None when exhausted.

        ``draw`` is a uniform number in [0, 1) supplied by the caller and journaled with
        the failure, so a replay computes the same delay.
        """
        if tries >= self.max_attempts:
            return None
        base = min(
            self.initial.total_seconds() * self.factor ** (tries - 1),
            self.max_delay.total_seconds(),
        )
        spread = 1.0 + self.jitter * (2.0 * draw - 1.0)
        return timedelta(seconds=max(0.0, base * spread))


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: str
    inputs: Mapping[str, Expression]
    retry: RetryPolicy
    timeout: DurationRef | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: Expression
    then: JsonObject
    next: str | None = None
    """Where the run goes when this row decides (first-hit tables only); else the step's next."""


@dataclass(frozen=True, slots=True)
class DecideSpec:
    hit: Literal["first", "collect"]
    rules: tuple[Rule, ...]
    default: JsonObject | None


Quorum: TypeAlias = Literal["any", "all"] | int


@dataclass(frozen=True, slots=True)
class Escalation:
    after: DurationRef
    to: RoleRef


SIGNATURE_MEANINGS = (
    "review", "approval", "responsibility", "release", "authorship", "approved-for-production",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SignatureSpec:
    """The decision is an electronic signature with this meaning (21 CFR 11.50)."""

    meaning: str
    reason_required: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalSpec:
    title: str
    roles: tuple[RoleRef, ...]
    roles_from: Expression | None
    quorum: Quorum
    quorum_from: Expression | None
    due_in: DurationRef | None
    escalations: tuple[Escalation, ...]
    outcomes: Mapping[str, str | None]
    signature: SignatureSpec | None = None


@dataclass(frozen=True, slots=True)
class WaitSpec:
    event: str
    key: Expression
    timeout: DurationRef | None
    lookback: DurationRef | None = None
    """Also take an event that arrived this long before the run started (by default only
    events from the run's start on: one that came before the wait began is kept for it)."""


@dataclass(frozen=True, slots=True)
class TimerSpec:
    duration: DurationRef


@dataclass(frozen=True, slots=True)
class ParallelSpec:
    branches: tuple[str, ...]
    join: str


@dataclass(frozen=True, slots=True)
class JoinSpec:
    pass


@dataclass(frozen=True, slots=True)
class EndSpec:
    outcome: str


StepSpec: TypeAlias = (
    ActionSpec
    | DecideSpec
    | ApprovalSpec
    | WaitSpec
    | TimerSpec
    | ParallelSpec
    | JoinSpec
    | EndSpec
)


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    kind: str
    spec: StepSpec
    when: Expression | None = None
    next: str | None = None
    on_error: str | None = None
    on_timeout: str | None = None

    def successors(self) -> tuple[str, ...]:
        """Every step this one can hand over to."""
        out = [s for s in (self.next, self.on_error, self.on_timeout) if s]
        if isinstance(self.spec, ApprovalSpec):
            out.extend(s for s in self.spec.outcomes.values() if s)
        if isinstance(self.spec, ParallelSpec):
            out.extend(self.spec.branches)
        if isinstance(self.spec, DecideSpec):
            out.extend(r.next for r in self.spec.rules if r.next)
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class Trigger:
    event: str
    key: Expression | None
    when: Expression | None = None
    """Starts a run only for events whose data (as ``input``) makes this true, e.g. only
    machine state changes into a stop."""

    def takes(self, data: JsonValue) -> bool:
        try:
            return self.when is None or self.when.test({"input": data})
        except ExpressionError as exc:  # e.g. over budget on this data: refuse the event
            raise InputError(f"trigger on {self.event}: {exc}") from None


@dataclass(frozen=True, slots=True)
class DutyRules:
    """Segregation-of-duties rules a template declares on top of those that always hold
    (initiator cannot approve, distinct approvers, no machine signatures)."""

    conflicting_roles: tuple[tuple[str, str], ...] = ()
    """(A, B): one person may not act in both roles on one run."""
    separate_steps: tuple[tuple[str, str], ...] = ()
    """(X, Y): whoever acted on step X may not act on step Y."""
    barred: tuple[str, ...] = ()
    """Paths into the run's input (``input.author``) naming a person who may not act on any
    task of the run: the author of what the run approves, for one."""


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    version: int
    title: str
    parameters: Mapping[str, Parameter]
    roles: frozenset[str]
    input_schema: JsonObject
    triggers: tuple[Trigger, ...]
    steps: Mapping[str, Step]
    start: str
    digest: str = ""
    join_owner: Mapping[str, str] = field(default_factory=dict)
    duties: DutyRules = field(default_factory=DutyRules)
    regulated: bool = False
    """Every approval is a signature in the regulated sense (no service or admin signer)."""
    retention: str = "standard"
    """The retention class of its runs' records (see governance/retention.py)."""

    def step(self, step_id: str) -> Step:
        return self.steps[step_id]

    def starts_on(self, event_type: str, data: JsonValue) -> bool:
        """Whether an event of ``event_type`` carrying ``data`` starts a run of this."""
        return any(t.event == event_type and t.takes(data) for t in self.triggers)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"
