"""A run simulated in memory for a dry run before promotion (ADR 0033): one template version
folds the facts of a run that really happened, with no store and no side effects.

Whatever a step needs from outside is answered from the recorded run, matched by step id:
an action by its recorded outcomes (a failure goes to the version's own retry policy), an
approval by the recorded decisions on the step, a wait by the event it received, a
timeout by its recorded firing. An action the recorded run never ran is *skipped*: it
succeeds with an empty output. An approval or a wait with nothing recorded stops the
simulation there; a timer elapses by itself. Pure: the caller gives every fact and time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from andon.core import engine
from andon.core.commands import StartTimer
from andon.core.events import (
    Event,
    EventReceived,
    RunStarted,
    StepFailed,
    StepSucceeded,
    TaskCompleted,
    TimerFired,
)
from andon.core.json import JsonObject, JsonValue
from andon.core.run import Run, RunStatus, StepState, StepStatus
from andon.core.template import ActionSpec, ApprovalSpec, Template, TimerSpec, WaitSpec
from andon.errors import AndonError

MAX_STEPS = 200
"""Steps one simulated run may enter: a loop that never waits stops here."""
MAX_FACTS = 1000
"""Facts one simulated run may fold (recorded answers and elapsed timers)."""


class Halt(StrEnum):
    """Where a simulated run stopped."""

    COMPLETED = "completed"
    WAITING = "waiting"
    """At steps whose answer the recorded run does not have (yet)."""
    INCIDENT = "incident"
    LIMIT = "limit"
    REFUSED = "refused"
    """The run could not start (input, overlay) or an answer could not be folded."""
    NOT_STARTED = "not-started"
    """The version's triggers do not take the event, or no version is in force there."""


@dataclass(frozen=True, slots=True)
class Stop:
    halt: Halt
    steps: tuple[str, ...] = ()
    detail: str = ""

    def describe(self) -> str:
        where = ", ".join(self.steps)
        if self.halt is Halt.COMPLETED:
            return f"completed ({self.detail})"
        if self.halt is Halt.WAITING:
            return f"waits at {where}" + (f" ({self.detail})" if self.detail else "")
        if self.halt is Halt.INCIDENT:
            return f"incident at {where}: {self.detail}"
        if self.halt is Halt.LIMIT:
            return f"stopped after {MAX_STEPS} steps or {MAX_FACTS} facts (a loop?)"
        return f"{self.halt.value}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Decided:
    """A decide step's verdict: the rows that matched and the output."""

    step: str
    matched: tuple[str, ...]
    output: JsonValue

    @property
    def rows(self) -> str:
        return ",".join(self.matched) or "default"


@dataclass(frozen=True, slots=True)
class Simulation:
    """One version's run of one event, as far as the recorded answers carry it."""

    ref: str
    """``template@version``; empty when no version is in force for the event's plant."""
    path: tuple[str, ...] = ()
    """The steps entered, in order."""
    decisions: tuple[Decided, ...] = ()
    stop: Stop = field(default_factory=lambda: Stop(Halt.NOT_STARTED))
    skipped: tuple[str, ...] = ()
    """Action steps answered with an empty output: the recorded run has no outcome."""

    @property
    def label(self) -> str:
        return "v" + self.ref.rpartition("@")[2] if self.ref else "none"

    def to_json(self) -> JsonObject:
        return {
            "ref": self.ref,
            "path": list(self.path),
            "decisions": [
                {"step": d.step, "matched": list(d.matched), "output": d.output}
                for d in self.decisions
            ],
            "stop": {"halt": self.stop.halt.value, "steps": list(self.stop.steps),
                     "detail": self.stop.detail, "text": self.stop.describe()},
            "skipped_actions": list(self.skipped),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    event: Event
    at: datetime


class Recorded:
    """What a real run was told, per step id in journal order; each answer is used once."""

    def __init__(self, facts: Iterable[tuple[Event, datetime]] = ()) -> None:
        self._by_step: dict[str, deque[Answer]] = {}
        for event, at in facts:
            step = _step_of(event)
            if step is not None:
                self._by_step.setdefault(step, deque()).append(Answer(event, at))

    def take(self, step_id: str, fits: Callable[[Event], bool]) -> Answer | None:
        """The step's first unused answer that ``fits`` (a step whose kind changed finds
        none of its old answers fitting)."""
        found = self._by_step.get(step_id)
        for answer in found or ():
            if fits(answer.event):
                assert found is not None
                found.remove(answer)
                return answer
        return None


def not_started(ref: str, why: str) -> Simulation:
    return Simulation(ref, stop=Stop(Halt.NOT_STARTED, detail=why))


def simulate(
    template: Template, run_id: str, started: RunStarted, recorded: Recorded, now: datetime
) -> Simulation:
    """Fold ``started`` and then recorded answers until the run ends or nothing answers it."""
    return _Sandbox(template, recorded, now).run(run_id, started)


class _Sandbox:
    def __init__(self, template: Template, recorded: Recorded, now: datetime) -> None:
        self.template = template
        self.recorded = recorded
        self.now = now
        self.path: list[str] = []
        self.decisions: list[Decided] = []
        self.skipped: list[str] = []
        self.due: dict[str, datetime] = {}

    def run(self, run_id: str, started: RunStarted) -> Simulation:
        try:
            run = self.fold(Run(run_id), started, self.now)
        except AndonError as exc:
            return self.result(Stop(Halt.REFUSED, detail=str(exc)))
        for folded in range(MAX_FACTS + 1):
            if run.status is RunStatus.COMPLETED:
                return self.result(Stop(Halt.COMPLETED, detail=run.outcome or ""))
            if run.status is RunStatus.INCIDENT:
                step = run.incident or ""
                return self.result(Stop(Halt.INCIDENT, (step,), run.step(step).error or ""))
            if len(self.path) > MAX_STEPS or folded == MAX_FACTS:
                break
            found = self.next_answer(run)
            if found is None:
                waiting = tuple(s for s in run.active if self.waits_outside(run.step(s), s))
                return self.result(Stop(Halt.WAITING, waiting or run.active))
            step, answer = found
            try:
                run = self.fold(run, answer.event, answer.at)
            except AndonError as exc:  # e.g. a recorded outcome this version does not offer
                return self.result(Stop(Halt.WAITING, (step,), f"recorded answer refused: {exc}"))
        return self.result(Stop(Halt.LIMIT))

    def fold(self, run: Run, event: Event, at: datetime) -> Run:
        self.now = max(self.now, at)
        decision = engine.advance(self.template, run, event, self.now)
        self.path.extend(decision.entered)
        for change in decision.trace:
            matched = change.get("matched")
            if change.get("change") == "decided" and isinstance(matched, list):
                rows = tuple(str(m) for m in matched)
                self.decisions.append(Decided(str(change["step"]), rows, change.get("output")))
        for command in decision.commands:
            if isinstance(command, StartTimer):
                self.due[command.key] = command.due_at
        return decision.run

    def next_answer(self, run: Run) -> tuple[str, Answer] | None:
        """The first active step that has an answer, and the answer."""
        for step_id in run.active:
            answer = self.answer(step_id, run.step(step_id))
            if answer is not None:
                return step_id, answer
        return None

    def answer(self, step_id: str, state: StepState) -> Answer | None:
        spec = self.template.step(step_id).spec
        if state.status is StepStatus.ACTIVE and isinstance(spec, ActionSpec):
            found = self.recorded.take(step_id, lambda e: isinstance(e, StepSucceeded | StepFailed))
            if found is not None:
                assert isinstance(found.event, StepSucceeded | StepFailed)
                return Answer(replace(found.event, attempt=state.attempt), found.at)
            self.skipped.append(step_id)
            return Answer(StepSucceeded(step_id, state.attempt, {}), self.now)
        if state.status is StepStatus.RETRYING:
            return self.elapse(f"retry:{step_id}:{state.attempt}")
        if state.status is not StepStatus.WAITING:
            return None
        if isinstance(spec, TimerSpec):
            key = f"timer:{step_id}:{state.visit}"
            found = self.recorded.take(step_id, lambda e: _timer(e, "timer"))
            return Answer(TimerFired(key), found.at) if found else self.elapse(key)
        if isinstance(spec, ApprovalSpec):
            return self.answer_or_timeout(step_id, state, TaskCompleted, spec.due_in is not None)
        if isinstance(spec, WaitSpec):
            return self.answer_or_timeout(step_id, state, EventReceived, spec.timeout is not None)
        return None  # a join waits for its branches

    def answer_or_timeout(
        self,
        step_id: str,
        state: StepState,
        kind: type[TaskCompleted] | type[EventReceived],
        timeout: bool,
    ) -> Answer | None:
        """A recorded decision on (or event for) the waiting step; else its recorded
        timeout, if this version's step has one."""

        def fits(event: Event) -> bool:
            return isinstance(event, kind) or (timeout and _timer(event, "timeout"))

        found = self.recorded.take(step_id, fits)
        if found is None:
            return None
        if isinstance(found.event, TaskCompleted):
            task_id = str(state.detail.get("task_id", ""))
            return Answer(replace(found.event, task_id=task_id), found.at)
        if isinstance(found.event, EventReceived):
            return found
        return Answer(TimerFired(f"timeout:{step_id}:{state.visit}"), found.at)

    def waits_outside(self, state: StepState, step_id: str) -> bool:
        return state.status is StepStatus.WAITING and not _is_join(self.template, step_id)

    def elapse(self, key: str) -> Answer:
        return Answer(TimerFired(key), self.due.get(key, self.now))

    def result(self, stop: Stop) -> Simulation:
        return Simulation(
            self.template.ref, tuple(self.path[:MAX_STEPS]), tuple(self.decisions), stop,
            tuple(self.skipped),
        )  # fmt: skip


def _step_of(event: Event) -> str | None:
    """The step a recorded fact answered, if it is an answer from outside."""
    if isinstance(event, StepSucceeded | StepFailed | TaskCompleted | EventReceived):
        return event.step
    if isinstance(event, TimerFired):
        kind, _, rest = event.key.partition(":")
        if kind in ("timer", "timeout"):
            return rest.partition(":")[0]
    return None  # retries and escalations: the simulation makes its own


def _timer(event: Event, kind: str) -> bool:
    return isinstance(event, TimerFired) and event.key.startswith(kind + ":")


def _is_join(template: Template, step_id: str) -> bool:
    return step_id in template.join_owner
