"""Measures of one run and its steps, derived from the run's journal alone: the journal is
replayed through the engine (it is deterministic), so every step's entry and exit, every
action dispatch and every retry is known exactly, not guessed. Pure: no I/O, no clock.

- **touch time**: actions at work, from dispatch to outcome, per attempt;
- **queue time**: waiting for a person (an approval task open until it closes, an incident
  until someone retries it) or for a retry (the backoff after a failed attempt);
- **wait time**: waiting for an event or a timer;
- counts of attempts, failures, retries, incidents, escalations, SLA breaches (an approval
  overdue or timed out) and policy violations.

Steps on parallel branches overlap, so a run's sums may exceed its cycle time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from andon.core import codec, engine
from andon.core import commands as cmd
from andon.core.events import RunMigrated, RunStarted, StepFailed, StepSucceeded
from andon.core.json import JsonObject
from andon.core.run import Run, StepStatus
from andon.core.template import Template
from andon.store.base import JournalRow, RunRow

_LEFT = (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.FAILED)


@dataclass(slots=True)
class StepMeasures:
    step: str
    kind: str
    visits: int = 0
    entered_at: float | None = None
    """When the step was first entered."""
    left_at: float | None = None
    """When it was last left; None while a visit is still open."""
    status: str = "pending"
    attempts: int = 0
    failures: int = 0
    retries: int = 0
    incidents: int = 0
    escalations: int = 0
    sla_breaches: int = 0
    policy_violations: int = 0
    touch_s: float = 0.0
    queue_s: float = 0.0
    wait_s: float = 0.0


@dataclass(slots=True)
class RunMeasures:
    run_id: str
    template_id: str
    template_version: int
    plant: str
    status: str
    outcome: str | None
    started_at: float
    ended_at: float | None
    cycle_s: float
    """Start to end, or to ``now`` for a run that has not ended."""
    steps: list[StepMeasures] = field(default_factory=list)

    def total(self, name: str) -> float:
        value: float = sum(getattr(s, name) for s in self.steps)  # ints stay ints
        return value

    @property
    def touch_s(self) -> float:
        return self.total("touch_s")

    @property
    def queue_s(self) -> float:
        return self.total("queue_s")

    @property
    def wait_s(self) -> float:
        return self.total("wait_s")

    def to_json(self) -> JsonObject:
        totals: JsonObject = {
            name: self.total(name)
            for name in ("attempts", "failures", "retries", "incidents", "escalations",
                         "sla_breaches", "policy_violations", "touch_s", "queue_s", "wait_s")
        }  # fmt: skip
        return {
            "run_id": self.run_id, "template_id": self.template_id,
            "template_version": self.template_version, "plant": self.plant,
            "status": self.status, "outcome": self.outcome, "started_at": self.started_at,
            "ended_at": self.ended_at, "cycle_s": self.cycle_s, **totals,
            "steps": [{f.name: getattr(s, f.name) for f in fields(s)} for s in self.steps],
        }  # fmt: skip


class _Clocks:
    """Open intervals: when each step began to wait for what."""

    def __init__(self) -> None:
        self.dispatched: dict[tuple[str, int], float] = {}
        self.backoff: dict[str, float] = {}
        self.task: dict[str, float] = {}
        self.incident: dict[str, float] = {}
        self.wait: dict[str, float] = {}


def measure(
    template: Template | Callable[[int], Template],
    row: RunRow,
    journal: Sequence[JournalRow],
    now: float,
) -> RunMeasures:
    """The measures of ``row``'s run from its ``journal`` (in ``seq`` order). ``template``
    is the run's template, or a lookup by version: a migrated run (ADR 0032) is replayed
    with the version it started on, then with each version it moved to."""
    given = template
    versions = given if callable(given) else (lambda _: given)
    current = versions(row.template_version)
    steps: dict[str, StepMeasures] = {}
    clocks = _Clocks()
    run = Run(row.run_id)

    def step(step_id: str) -> StepMeasures:
        found = steps.get(step_id)
        if found is None:
            kind = current.steps[step_id].kind if step_id in current.steps else "?"
            found = steps[step_id] = StepMeasures(step_id, kind)
        return found

    for entry in journal:
        at = entry.at
        event = codec.event_from_dict({**entry.body, "type": entry.type})
        if isinstance(event, RunStarted) and event.template_version != current.version:
            current = versions(event.template_version)
        elif isinstance(event, RunMigrated):
            current = versions(event.to_version)
        decision = engine.advance(current, run, event, datetime.fromtimestamp(at, UTC))
        if not decision.accepted:
            continue
        before = run.steps
        for step_id, state in decision.run.steps.items():
            old = before.get(step_id)
            measured = step(step_id)
            if old is None or state.visit > old.visit:
                measured.visits += state.visit - (old.visit if old else 0)
                measured.entered_at = at if measured.entered_at is None else measured.entered_at
                measured.left_at = None
            if state.status in _LEFT and (old is None or old.status not in _LEFT or
                                          state.visit != old.visit):  # fmt: skip
                measured.left_at = at
            measured.status = state.status.value
        if isinstance(event, StepSucceeded | StepFailed):
            started = clocks.dispatched.pop((event.step, event.attempt), None)
            if started is not None:
                step(event.step).touch_s += at - started
            if isinstance(event, StepFailed):
                step(event.step).failures += 1
        for change in decision.trace:
            _note(step(str(change.get("step", ""))) if change.get("step") else None,
                  change, at, clocks)  # fmt: skip
        for command in decision.commands:
            if isinstance(command, cmd.RunAction):
                clocks.dispatched[(command.step, command.attempt)] = at
                step(command.step).attempts += 1
                since = clocks.backoff.pop(command.step, None)
                if since is not None:
                    step(command.step).queue_s += at - since
        run = decision.run
    until = row.ended_at if row.ended_at is not None else max(now, row.updated_at)
    _close_open(steps, clocks, until)
    return RunMeasures(
        row.run_id, row.template_id, row.template_version, row.plant, row.status, row.outcome,
        row.created_at, row.ended_at, max(0.0, until - row.created_at),
        sorted(steps.values(), key=lambda s: (s.entered_at or until, s.step)),
    )  # fmt: skip


def _note(measured: StepMeasures | None, change: JsonObject, at: float, clocks: _Clocks) -> None:
    """Fold one trace entry of the engine into the step's measures."""
    if measured is None:
        return
    sid, kind = measured.step, change.get("change")
    if kind == "retrying":
        measured.retries += 1
        clocks.backoff[sid] = at
    elif kind == "incident":
        measured.incidents += 1
        clocks.incident[sid] = at
    elif kind == "incident_retried":
        since = clocks.incident.pop(sid, None)
        if since is not None:
            measured.queue_s += at - since
    elif kind == "task_opened":
        clocks.task[sid] = at
    elif kind == "approval_closed":
        since = clocks.task.pop(sid, None)
        if since is not None:
            measured.queue_s += at - since
        if change.get("outcome") == "timeout":
            measured.sla_breaches += 1
    elif kind == "overdue":
        measured.sla_breaches += 1
    elif kind == "escalated":
        measured.escalations += 1
    elif kind in ("waiting", "timer"):
        clocks.wait[sid] = at
    elif kind in ("received", "timed_out", "elapsed"):
        since = clocks.wait.pop(sid, None)
        if since is not None:
            measured.wait_s += at - since
    elif kind == "policy_violated":
        measured.policy_violations += 1


def _close_open(steps: dict[str, StepMeasures], clocks: _Clocks, until: float) -> None:
    """Intervals still open count up to the run's end (or now, for a run still going)."""
    for (sid, _), since in clocks.dispatched.items():
        steps[sid].touch_s += max(0.0, until - since)
    for sid, since in clocks.backoff.items():
        steps[sid].queue_s += max(0.0, until - since)
    for sid, since in [*clocks.task.items(), *clocks.incident.items()]:
        steps[sid].queue_s += max(0.0, until - since)
    for sid, since in clocks.wait.items():
        steps[sid].wait_s += max(0.0, until - since)
