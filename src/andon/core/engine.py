"""Decide what a run does next. Pure: the caller supplies every fact and the time.

``advance`` folds one fact into the run and returns the new state, the commands for the
outside world and a short trace of what changed (journaled next to the fact, shown by
``andon show``). Steps that need nothing from outside (``decide``, ``parallel``, ``join``,
``end``, skipped steps) run inline within the same fact.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from andon.core.commands import (
    AwaitEvent,
    CancelTimer,
    CloseTask,
    Command,
    CompleteRun,
    EscalateTask,
    OpenTask,
    RunAction,
    StartTimer,
    StopAwaiting,
)
from andon.core.durations import parse_duration
from andon.core.events import (
    Event,
    EventReceived,
    IncidentRetried,
    PolicyViolated,
    RunCancelled,
    RunMigrated,
    RunStarted,
    StepFailed,
    StepSucceeded,
    TaskClaimed,
    TaskCompleted,
    TaskReleased,
    TimerFired,
)
from andon.core.json import JsonObject, JsonValue
from andon.core.params import cel_view
from andon.core.run import Run, RunStatus, StepState, StepStatus
from andon.core.template import (
    ActionSpec,
    ApprovalSpec,
    DecideSpec,
    DurationRef,
    EndSpec,
    JoinSpec,
    ParallelSpec,
    ParamRef,
    RoleRef,
    Step,
    Template,
    TimerSpec,
    WaitSpec,
)
from andon.errors import ConflictError, ExpressionError, InputError

MAX_INLINE_STEPS = 1000


@dataclass(frozen=True, slots=True)
class Decision:
    run: Run
    commands: tuple[Command, ...]
    trace: tuple[JsonObject, ...] = ()
    accepted: bool = True
    """False when the fact was stale (an old timer, a superseded attempt): nothing changed."""
    entered: tuple[str, ...] = ()
    """The steps this fold entered, in order (a join once per visit): the run's path, for
    a dry run that compares where two versions take the same facts."""


def advance(template: Template, run: Run, event: Event, now: datetime) -> Decision:
    """Fold ``event`` into ``run`` at time ``now``."""
    work = _Work(template, run, now)
    if run.status.ended and not isinstance(event, RunStarted):
        return Decision(run, (), (), accepted=False)
    if isinstance(event, RunStarted):
        work.start(event)
    elif isinstance(event, StepSucceeded):
        work.succeeded(event)
    elif isinstance(event, StepFailed):
        work.failed(event)
    elif isinstance(event, TaskCompleted):
        work.task_completed(event)
    elif isinstance(event, EventReceived):
        work.event_received(event)
    elif isinstance(event, TimerFired):
        work.timer_fired(event)
    elif isinstance(event, RunCancelled):
        work.cancel(event)
    elif isinstance(event, TaskClaimed):
        work.task_claimed(event)
    elif isinstance(event, TaskReleased):
        work.task_released(event)
    elif isinstance(event, PolicyViolated):
        work.note(event.step, "policy_violated", rule=event.rule, actor=event.actor)
    elif isinstance(event, RunMigrated):
        work.migrated(event)
    else:
        work.retry_incident(event)
    return work.decision()


class _Work:
    """Mutable scratch state for one ``advance`` call, frozen into a Run at the end."""

    def __init__(self, template: Template, run: Run, now: datetime) -> None:
        self.template = template
        self.run = run
        self.now = now
        self.steps: dict[str, StepState] = dict(run.steps)
        self.active: list[str] = list(run.active)
        self.joins: dict[str, int] = dict(run.joins)
        self.status = run.status
        self.outcome = run.outcome
        self.incident = run.incident
        self.ended_at = run.ended_at
        self.commands: list[Command] = []
        self.trace: list[JsonObject] = []
        self.accepted = True
        self.resumed: set[str] = set()
        self.entered: list[str] = []
        self._params_view: JsonObject | None = None

    # ---- facts ---------------------------------------------------------------------------

    def start(self, event: RunStarted) -> None:
        if self.run.status is not RunStatus.CREATED:
            raise ConflictError(f"run {self.run.id} has already started")
        self.run = replace(
            self.run,
            template_id=event.template_id,
            template_version=event.template_version,
            overlay_digest=event.overlay_digest,
            plant=event.plant,
            input=event.input,
            params=event.params,
            started_at=self.now,
            started_by=event.started_by,
        )
        self.status = RunStatus.RUNNING
        self.note("", "started", by=event.started_by)
        self.enter(self.template.start)

    def succeeded(self, event: StepSucceeded) -> None:
        state = self.steps.get(event.step)
        if state is None or state.status is not StepStatus.ACTIVE or state.attempt != event.attempt:
            self.accepted = False
            return
        self.steps[event.step] = replace(
            state, status=StepStatus.DONE, output=event.output, error=None
        )
        self.note(event.step, "succeeded", attempt=event.attempt)
        self.leave(event.step, self.template.step(event.step).next)

    def failed(self, event: StepFailed) -> None:
        state = self.steps.get(event.step)
        if state is None or state.status is not StepStatus.ACTIVE or state.attempt != event.attempt:
            self.accepted = False
            return
        step = self.template.step(event.step)
        assert isinstance(step.spec, ActionSpec)
        delay = None if event.permanent else step.spec.retry.delay(state.tries, event.draw)
        if delay is not None:
            key = f"retry:{event.step}:{event.attempt}"
            self.steps[event.step] = replace(state, status=StepStatus.RETRYING, error=event.error)
            self.commands.append(StartTimer(key, self.now + delay))
            self.note(
                event.step,
                "retrying",
                attempt=event.attempt,
                error=event.error,
                delay_s=round(delay.total_seconds(), 3),
            )
            return
        self.fail_step(event.step, event.error, timed_out=event.timed_out)

    def task_completed(self, event: TaskCompleted) -> None:
        state = self.steps.get(event.step)
        if (
            state is None
            or state.status is not StepStatus.WAITING
            or state.detail.get("task_id") != event.task_id
        ):
            raise ConflictError(f"task {event.task_id} is not open")
        step = self.template.step(event.step)
        assert isinstance(step.spec, ApprovalSpec)
        if event.outcome not in step.spec.outcomes:
            allowed = ", ".join(step.spec.outcomes)
            raise InputError(f"outcome '{event.outcome}' is not one of: {allowed}")
        approvals = list(_list(state.detail.get("approvals")))
        if any(isinstance(a, dict) and a.get("actor") == event.actor for a in approvals):
            raise ConflictError(f"{event.actor} has already decided task {event.task_id}")
        approval: JsonObject = {"actor": event.actor, "role": event.role, "outcome": event.outcome}
        if event.on_behalf_of:
            approval["on_behalf_of"] = event.on_behalf_of
        approvals.append(approval)
        detail = {**state.detail, "approvals": approvals}
        self.steps[event.step] = replace(state, detail=detail)
        self.note(event.step, "decided", actor=event.actor, outcome=event.outcome)
        if event.outcome != "approve":
            self.close_approval(event.step, event.outcome)
        elif _quorum_met(detail):
            self.close_approval(event.step, "approve")

    def task_claimed(self, event: TaskClaimed) -> None:
        state = self.steps.get(event.step)
        if (
            state is None
            or state.status is not StepStatus.WAITING
            or state.detail.get("task_id") != event.task_id
        ):
            raise ConflictError(f"task {event.task_id} is not open")
        claim: JsonObject = {"actor": event.actor, "role": event.role}
        if event.on_behalf_of:
            claim["on_behalf_of"] = event.on_behalf_of
        self.steps[event.step] = replace(state, detail={**state.detail, "claimed": claim})
        self.note(event.step, "claimed", actor=event.actor)

    def task_released(self, event: TaskReleased) -> None:
        state = self.steps.get(event.step)
        claim = state.detail.get("claimed") if state is not None else None
        if (
            state is None
            or state.detail.get("task_id") != event.task_id
            or not isinstance(claim, dict)
            or claim.get("actor") != event.actor
        ):
            raise ConflictError(f"task {event.task_id} is not claimed by {event.actor}")
        detail = {k: v for k, v in state.detail.items() if k != "claimed"}
        self.steps[event.step] = replace(state, detail=detail)
        self.note(event.step, "released", actor=event.actor)

    def event_received(self, event: EventReceived) -> None:
        state = self.steps.get(event.step)
        if state is None or state.status is not StepStatus.WAITING:
            self.accepted = False
            return
        step = self.template.step(event.step)
        if not isinstance(step.spec, WaitSpec) or event.event_type != step.spec.event:
            self.accepted = False
            return
        self.steps[event.step] = replace(state, status=StepStatus.DONE, output=event.data)
        self.commands.append(StopAwaiting(event.step))
        if step.spec.timeout is not None:
            self.commands.append(CancelTimer(f"timeout:{event.step}:{state.visit}"))
        self.note(event.step, "received", event_type=event.event_type, key=event.key)
        self.leave(event.step, step.next)

    def timer_fired(self, event: TimerFired) -> None:
        kind, step_id, number, *rest = ([*event.key.split(":"), "", ""])[:4]
        state = self.steps.get(step_id)
        spec = self.template.steps[step_id].spec if step_id in self.template.steps else None
        if state is None or spec is None or not number.isdigit():
            self.accepted = False
        elif kind == "retry":
            if state.status is StepStatus.RETRYING and state.attempt == int(number):
                self.run_action(step_id, state)
            else:
                self.accepted = False
        elif state.status is not StepStatus.WAITING or state.visit != int(number):
            self.accepted = False
        elif kind == "timer" and isinstance(spec, TimerSpec):
            self.steps[step_id] = replace(state, status=StepStatus.DONE)
            self.note(step_id, "elapsed")
            self.leave(step_id, self.template.step(step_id).next)
        elif kind == "timeout" and isinstance(spec, WaitSpec | ApprovalSpec):
            self.timed_out(step_id, state)
        elif (
            kind == "escalate"
            and isinstance(spec, ApprovalSpec)
            and rest[0].isdigit()
            and 1 <= int(rest[0]) <= len(spec.escalations)
        ):
            self.escalate(step_id, state, int(rest[0]))
        else:
            self.accepted = False  # a key this engine never issues for this step

    def cancel(self, event: RunCancelled) -> None:
        self.status = RunStatus.CANCELLED
        self.outcome = "cancelled"
        self.ended_at = self.now
        self.commands.append(CompleteRun(RunStatus.CANCELLED.value, "cancelled"))
        self.note("", "cancelled", actor=event.actor, reason=event.reason)

    def migrated(self, event: RunMigrated) -> None:
        """Fold a migration into the run; ``template`` is the version it moves to. The
        runtime checked the move with both versions first (``core.migration.refusal``);
        this only guards what the fold relies on.

        A step kept under its id keeps its state, so its open task, timers and
        subscription stay valid. A step moved to another id is left (its task closed as
        ``migrated``, its wait and timers dropped) and the new step entered afresh."""
        if self.status is not RunStatus.RUNNING:
            raise ConflictError(f"run {self.run.id} is {self.status.value}, not running")
        if self.run.template_version != event.from_version:
            raise ConflictError(
                f"run {self.run.id} is on version {self.run.template_version}, "
                f"not {event.from_version}"
            )
        if self.template.version != event.to_version:
            raise ConflictError(
                f"the run moves to version {event.to_version}, not {self.template.ref}"
            )
        moves: dict[str, str] = {}
        for step_id in self.active:
            state = self.steps[step_id]
            if state.status in (StepStatus.ACTIVE, StepStatus.RETRYING):
                raise ConflictError(f"step '{step_id}' of run {self.run.id} is mid-action")
            target = event.mapping.get(step_id, step_id)
            if not isinstance(target, str) or target not in self.template.steps:
                raise ConflictError(
                    f"step '{step_id}' has no step {target!r} in {self.template.ref}"
                )
            if target != step_id:
                moves[step_id] = target
        for join_id in self.joins:
            if join_id not in self.template.join_owner:
                raise ConflictError(f"join '{join_id}' is not in {self.template.ref}")
        self.run = replace(self.run, template_version=event.to_version)
        moved: JsonObject = dict(moves)
        self.note("", "migrated", from_version=event.from_version,
                  to_version=event.to_version, moved=moved, actor=event.actor)  # fmt: skip
        for step_id, target in moves.items():
            self.leave_for_migration(step_id, target)
        for target in moves.values():
            self.enter(target)

    def leave_for_migration(self, step_id: str, target: str) -> None:
        """Close the open work of a step the run leaves for ``target``. Its state stays
        (the record of what happened) but is no longer waiting, so a late timer or event
        for it is stale."""
        state = self.steps[step_id]
        task_id = state.detail.get("task_id")
        if task_id is not None:
            self.commands.append(CloseTask(str(task_id), "migrated"))
        if "key" in state.detail:  # an event wait's subscription
            self.commands.append(StopAwaiting(step_id))
        for kind in ("timer", "timeout"):
            self.commands.append(CancelTimer(f"{kind}:{step_id}:{state.visit}"))
        detail = {**state.detail, "migrated_to": target}
        self.steps[step_id] = replace(state, status=StepStatus.SKIPPED, detail=detail)
        self.active.remove(step_id)
        self.note(step_id, "migrated", to=target)

    def retry_incident(self, event: IncidentRetried) -> None:
        if self.status is not RunStatus.INCIDENT or self.incident is None:
            raise ConflictError(f"run {self.run.id} has no incident to retry")
        # Parallel branches can fail one after the other; retry every failed one, or the
        # join would wait forever for a branch nobody re-entered.
        failed = [s for s in self.active if self.steps[s].status is StepStatus.FAILED]
        parked = self.incident
        self.status = RunStatus.RUNNING
        self.incident = None
        # The retried step resumes its failed visit's work: the last attempt may have taken
        # effect before it timed out, so the retry keeps the key a receiver dedupes by.
        self.resumed = set(failed or [parked])
        for step_id in failed or [parked]:
            self.note(step_id, "incident_retried", actor=event.actor)
            self.enter(step_id)

    # ---- moving tokens -------------------------------------------------------------------

    def leave(self, step_id: str, target: str | None) -> None:
        if step_id in self.active:
            self.active.remove(step_id)
        if target is not None:
            self.enter(target)
        elif not self.active and self.status is RunStatus.RUNNING:
            self.complete("completed")

    def enter(self, first: str) -> None:
        pending = [first]
        for _ in range(MAX_INLINE_STEPS):
            # An incident parks only the failed step: other branches keep moving.
            if not pending or self.status.ended:
                return
            step_id = pending.pop(0)
            pending.extend(self.enter_one(self.template.step(step_id)))
        self.fail_step(first, f"more than {MAX_INLINE_STEPS} steps ran without waiting")

    def enter_one(self, step: Step) -> list[str]:
        """Run ``step`` as far as it can go now; return the steps to enter next."""
        previous = self.steps.get(step.id) or StepState()
        if isinstance(step.spec, JoinSpec) and previous.status is StepStatus.WAITING:
            state = previous  # a later branch arriving at a join already entered
        else:
            self.entered.append(step.id)
            resumed = step.id in self.resumed and previous.status is StepStatus.FAILED
            state = StepState(
                status=StepStatus.PENDING,
                visit=previous.visit + 1,
                attempt=previous.attempt,
                # the seq the fact being folded gets in the journal (see ``decision``)
                activation=previous.activation if resumed else self.run.seq + 1,
            )
        self.steps[step.id] = state
        if step.id not in self.active:
            self.active.append(step.id)
        try:
            if step.when is not None and not step.when.test(self.context()):
                self.steps[step.id] = replace(state, status=StepStatus.SKIPPED)
                self.note(step.id, "skipped")
                return self.hand_over(step.id, step.next)
            return self.dispatch(step, state)
        except (ExpressionError, InputError) as exc:
            self.fail_step(step.id, str(exc))
            return []

    def dispatch(self, step: Step, state: StepState) -> list[str]:
        spec = step.spec
        if isinstance(spec, ActionSpec):
            self.run_action(step.id, state)
            return []
        if isinstance(spec, DecideSpec):
            return self.decide(step, spec, state)
        if isinstance(spec, ApprovalSpec):
            self.open_approval(step, spec, state)
            return []
        if isinstance(spec, WaitSpec):
            key = self.key_of(spec.key.evaluate(self.context()))
            expires = self.now + self.duration(spec.timeout) if spec.timeout else None
            self.steps[step.id] = replace(state, status=StepStatus.WAITING, detail={"key": key})
            since = (self.run.started_at or self.now) - (
                self.duration(spec.lookback) if spec.lookback else timedelta(0)
            )
            self.commands.append(AwaitEvent(step.id, spec.event, key, expires, since))
            if expires is not None:
                self.commands.append(StartTimer(f"timeout:{step.id}:{state.visit}", expires))
            self.note(step.id, "waiting", event_type=spec.event, key=key)
            return []
        if isinstance(spec, TimerSpec):
            due = self.now + self.duration(spec.duration)
            self.steps[step.id] = replace(state, status=StepStatus.WAITING)
            self.commands.append(StartTimer(f"timer:{step.id}:{state.visit}", due))
            self.note(step.id, "timer", due_at=due.isoformat())
            return []
        if isinstance(spec, ParallelSpec):
            self.steps[step.id] = replace(state, status=StepStatus.DONE)
            self.joins[spec.join] = 0
            self.active.remove(step.id)
            self.note(step.id, "forked", branches=list(spec.branches))
            return list(spec.branches)
        if isinstance(spec, JoinSpec):
            return self.join(step, state)
        assert isinstance(spec, EndSpec)
        self.steps[step.id] = replace(state, status=StepStatus.DONE)
        self.active.remove(step.id)
        self.complete(spec.outcome)
        return []

    def hand_over(self, step_id: str, target: str | None) -> list[str]:
        """Inline variant of ``leave``: the caller enters the returned steps."""
        self.active.remove(step_id)
        if target is not None:
            return [target]
        if not self.active:
            self.complete("completed")
        return []

    def complete(self, outcome: str) -> None:
        self.status = RunStatus.COMPLETED
        self.outcome = outcome
        self.ended_at = self.now
        self.commands.append(CompleteRun(RunStatus.COMPLETED.value, outcome))
        self.note("", "completed", outcome=outcome)

    # ---- step kinds ----------------------------------------------------------------------

    def run_action(self, step_id: str, state: StepState) -> None:
        step = self.template.step(step_id)
        assert isinstance(step.spec, ActionSpec)
        context = self.context()
        action_input: JsonObject = {k: e.evaluate(context) for k, e in step.spec.inputs.items()}
        attempt = state.attempt + 1
        self.steps[step_id] = replace(
            state, status=StepStatus.ACTIVE, attempt=attempt, tries=state.tries + 1
        )
        timeout = self.duration(step.spec.timeout) if step.spec.timeout else None
        self.commands.append(
            RunAction(
                step_id,
                step.spec.action,
                action_input,
                attempt,
                f"{self.run.id}:{step_id}:{state.activation}",
                timeout,
            )
        )

    def decide(self, step: Step, spec: DecideSpec, state: StepState) -> list[str]:
        context = self.context()
        matched = []
        for rule in spec.rules:
            if rule.when.test(context):
                matched.append(rule)
                if spec.hit == "first":
                    break
        output: JsonValue
        if not matched:
            if spec.default is None:
                self.fail_step(step.id, "no rule matched and the decide step has no default")
                return []
            output = spec.default
        elif spec.hit == "first":
            output = matched[0].then
        else:
            output = {"results": [r.then for r in matched]}
        ids: list[JsonValue] = [r.id for r in matched]
        self.steps[step.id] = replace(
            state, status=StepStatus.DONE, output=output, detail={"matched": ids}
        )
        # What an auditor needs to see why work went where: the rows that matched, their
        # conditions and the result (the inputs and parameters are in RunStarted).
        conditions: list[JsonValue] = [r.when.source for r in matched]
        self.note(step.id, "decided", matched=ids, conditions=conditions, output=output)
        routed = matched[0].next if matched and spec.hit == "first" else None
        return self.hand_over(step.id, routed or step.next)

    def open_approval(self, step: Step, spec: ApprovalSpec, state: StepState) -> None:
        context = self.context()
        roles = [self.role(r) for r in spec.roles]
        if spec.roles_from is not None:
            extra = spec.roles_from.evaluate(context)
            if not isinstance(extra, list) or not all(isinstance(r, str) for r in extra):
                raise InputError(f"roles_from gave {extra!r}, not a list of role names")
            roles.extend(str(r) for r in extra)
        roles = list(dict.fromkeys(roles))
        if not roles:
            raise InputError("the approval has no candidate roles")
        quorum: JsonValue = spec.quorum
        if spec.quorum_from is not None:
            quorum = spec.quorum_from.evaluate(context)
        if isinstance(quorum, float) and quorum.is_integer():
            quorum = int(quorum)
        if quorum not in ("any", "all") and not (isinstance(quorum, int) and quorum >= 1):
            raise InputError(f"quorum gave {quorum!r}, not 'any', 'all' or a count")
        task_id = f"{self.run.id}:{step.id}:{state.visit}"
        due_at = self.now + self.duration(spec.due_in) if spec.due_in else None
        detail: JsonObject = {
            "task_id": task_id,
            "roles": list(roles),
            "quorum": quorum,
            "approvals": [],
            "level": 0,
        }
        self.steps[step.id] = replace(state, status=StepStatus.WAITING, detail=detail)
        self.commands.append(
            OpenTask(step.id, task_id, spec.title, tuple(roles), str(quorum), due_at, None)
        )
        if due_at is not None:
            self.commands.append(StartTimer(f"timeout:{step.id}:{state.visit}", due_at))
        for level, escalation in enumerate(spec.escalations, start=1):
            self.commands.append(
                StartTimer(
                    f"escalate:{step.id}:{state.visit}:{level}",
                    self.now + self.duration(escalation.after),
                )
            )
        self.note(step.id, "task_opened", task_id=task_id, roles=list(roles), quorum=quorum)

    def close_approval(self, step_id: str, outcome: str) -> None:
        state = self.steps[step_id]
        step = self.template.step(step_id)
        assert isinstance(step.spec, ApprovalSpec)
        approvers: list[JsonValue] = [
            a.get("actor") for a in _list(state.detail.get("approvals")) if isinstance(a, dict)
        ]
        self.steps[step_id] = replace(
            state, status=StepStatus.DONE, output={"outcome": outcome, "approvers": approvers}
        )
        self.commands.append(CloseTask(str(state.detail["task_id"]), outcome))
        self.cancel_approval_timers(step_id, step.spec, state.visit)
        self.note(step_id, "approval_closed", outcome=outcome)
        target = step.spec.outcomes.get(outcome) or step.next
        if outcome == "timeout":
            target = step.on_timeout
        self.leave(step_id, target)

    def cancel_approval_timers(self, step_id: str, spec: ApprovalSpec, visit: int) -> None:
        if spec.due_in is not None:
            self.commands.append(CancelTimer(f"timeout:{step_id}:{visit}"))
        for level in range(1, len(spec.escalations) + 1):
            self.commands.append(CancelTimer(f"escalate:{step_id}:{visit}:{level}"))

    def timed_out(self, step_id: str, state: StepState) -> None:
        step = self.template.step(step_id)
        if isinstance(step.spec, WaitSpec):
            self.steps[step_id] = replace(
                state,
                status=StepStatus.DONE,
                output=None,
                detail={**state.detail, "timed_out": True},
            )
            self.commands.append(StopAwaiting(step_id))
            self.note(step_id, "timed_out")
            self.leave(step_id, step.on_timeout)
        elif step.on_timeout is not None:
            self.close_approval(step_id, "timeout")
        else:
            self.steps[step_id] = replace(state, detail={**state.detail, "overdue": True})
            self.note(step_id, "overdue")

    def escalate(self, step_id: str, state: StepState, level: int) -> None:
        step = self.template.step(step_id)
        assert isinstance(step.spec, ApprovalSpec)
        role = self.role(step.spec.escalations[level - 1].to)
        escalated = _list(state.detail.get("escalated_to"))
        detail = {
            **state.detail,
            "level": level,
            "escalated_to": [*escalated, role] if role not in escalated else escalated,
        }
        self.steps[step_id] = replace(state, detail=detail)
        self.commands.append(EscalateTask(step_id, str(state.detail["task_id"]), role, level))
        self.note(step_id, "escalated", level=level, role=role)

    def join(self, step: Step, state: StepState) -> list[str]:
        arrived = self.joins.get(step.id, 0) + 1
        owner = self.template.step(self.template.join_owner[step.id])
        assert isinstance(owner.spec, ParallelSpec)
        self.active.remove(step.id)
        if arrived < len(owner.spec.branches):
            self.joins[step.id] = arrived
            self.steps[step.id] = replace(state, status=StepStatus.WAITING)
            self.note(step.id, "arrived", count=arrived)
            return []
        self.joins.pop(step.id, None)
        self.steps[step.id] = replace(state, status=StepStatus.DONE)
        self.note(step.id, "joined", count=arrived)
        if step.next is None:
            if not self.active:
                self.complete("completed")
            return []
        self.active.append(step.id)
        return self.hand_over(step.id, step.next)

    def fail_step(self, step_id: str, error: str, *, timed_out: bool = False) -> None:
        state = self.steps.get(step_id) or StepState()
        step = self.template.step(step_id)
        self.steps[step_id] = replace(state, status=StepStatus.FAILED, error=error)
        target = step.on_timeout if timed_out and step.on_timeout else step.on_error
        if target is not None:
            self.note(step_id, "failed", error=error, next=target)
            self.leave(step_id, target)
            return
        self.status = RunStatus.INCIDENT
        self.incident = step_id
        self.note(step_id, "incident", error=error)

    # ---- helpers -------------------------------------------------------------------------

    def context(self) -> dict[str, JsonValue]:
        if self._params_view is None:
            self._params_view = cel_view(self.run.params, self.template.parameters)
        steps: JsonObject = {
            sid: {"status": st.status.value, "output": st.output} for sid, st in self.steps.items()
        }
        return {
            "input": self.run.input,
            "params": self._params_view,
            "steps": steps,
            "run": {"id": self.run.id, "plant": self.run.plant},
        }

    def duration(self, ref: DurationRef) -> timedelta:
        if isinstance(ref, ParamRef):
            value = self.run.params.get(ref.name)
            if not isinstance(value, str):
                raise InputError(f"parameter '{ref.name}' is not a duration: {value!r}")
            try:
                return parse_duration(value)
            except ValueError as exc:
                raise InputError(f"parameter '{ref.name}': {exc}") from None
        return ref

    def role(self, ref: RoleRef) -> str:
        if isinstance(ref, ParamRef):
            value = self.run.params.get(ref.name)
            if not isinstance(value, str):
                raise InputError(f"parameter '{ref.name}' is not a role: {value!r}")
            return value
        return ref

    @staticmethod
    def key_of(value: JsonValue) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or value is None or isinstance(value, list | dict):
            raise InputError(f"a correlation key must be a string or number, got {value!r}")
        return str(value)

    def note(self, step_id: str, change: str, **detail: JsonValue) -> None:
        entry: JsonObject = {"step": step_id, "change": change}
        entry.update(detail)
        self.trace.append(entry)

    def decision(self) -> Decision:
        if not self.accepted:
            return Decision(self.run, (), (), accepted=False)
        run = replace(
            self.run,
            status=self.status,
            steps=self.steps,
            active=tuple(self.active),
            joins=self.joins,
            outcome=self.outcome,
            incident=self.incident,
            ended_at=self.ended_at,
            seq=self.run.seq + 1,
        )
        return Decision(run, tuple(self.commands), tuple(self.trace), entered=tuple(self.entered))


def _list(value: JsonValue) -> list[JsonValue]:
    return list(value) if isinstance(value, list) else []


def _quorum_met(detail: JsonObject) -> bool:
    approvals = [a for a in _list(detail.get("approvals")) if isinstance(a, dict)]
    approvers = {a.get("actor") for a in approvals if a.get("outcome") == "approve"}
    quorum = detail.get("quorum")
    if quorum == "any":
        return len(approvers) >= 1
    if quorum == "all":
        roles = set(map(str, _list(detail.get("roles"))))
        covered = {a.get("role") for a in approvals if a.get("outcome") == "approve"}
        return roles <= covered or (not any(covered) and len(approvers) >= len(roles))
    return isinstance(quorum, int) and len(approvers) >= quorum
