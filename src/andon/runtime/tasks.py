"""Human tasks: claiming and deciding them, under segregation of duties and, where a step
is signed, with an electronic signature bound to the run's journal.

A refusal rolls the decision back, is journaled on its own as a ``PolicyViolated`` fact,
and then reaches the caller as a ``GovernanceError`` naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from andon.core import engine
from andon.core.events import Event, PolicyViolated, TaskClaimed, TaskCompleted, TaskReleased
from andon.core.json import JsonObject
from andon.core.template import ApprovalSpec, Template
from andon.errors import AndonError, ConflictError, GovernanceError, InputError, NotFoundError
from andon.governance import authz, duties, signatures
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.runtime import preparation
from andon.runtime.clock import Clock
from andon.runtime.facts import Delivery, FactWriter
from andon.runtime.operations import operation
from andon.runtime.preparation import Prepared
from andon.runtime.signals import Signals
from andon.runtime.templates import TemplateCache
from andon.store.base import RunRow, TaskRow
from andon.store.sql import SqlStore
from andon.store.transaction import SqlTransaction


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a signer gives again at the moment of signing (21 CFR 11.200)."""

    password: str
    reason: str = ""
    second_factor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskDecision:
    task_id: str
    outcome: str = "approve"
    comment: str = ""
    role: str = ""
    """The role the actor decides in; by default the first candidate role it holds."""

    credentials: Credentials | None = None
    """Required where the step is signed; refused where it is not."""


class Authenticator(Protocol):
    def __call__(self, actor: Actor, password: str, second_factor: str | None) -> str:
        """Check the credentials; return the method used (e.g. ``password``) or raise."""
        ...


class TaskDesk:
    """The task operations of the service (mixed into ``Andon``)."""

    store: SqlStore
    clock: Clock
    templates: TemplateCache
    facts: FactWriter
    signals: Signals
    _authenticate: Authenticator | None

    def task(self, actor: Actor, task_id: str) -> TaskRow:
        raise NotImplementedError

    @operation(Permission.TASK_CLAIM)
    def claim_task(self, actor: Actor, task_id: str, role: str = "") -> TaskRow:
        """Take a task to work on it; refused (and journaled) where duties forbid it."""
        now = self.clock.now()
        [ahead] = self._prepare(
            [(actor, task_id)],
            Permission.TASK_CLAIM,
            now,
            lambda _, task, run: self._claim(actor, task, run, role),
        )
        after = self.signals.after_commit(now.timestamp())
        try:
            with self.store.transaction() as unscoped:
                tx = unscoped.scoped(actor.tenant_id)
                task, run = self._open_task(tx, actor, task_id, Permission.TASK_CLAIM)
                delivery = Delivery(task.run_id, self._claim(actor, task, run, role), actor.user_id)
                self.facts.deliver(tx, delivery, now, after, run, ahead)
                tx.update_task(task_id, claimed_by=actor.user_id, claimed_at=now.timestamp())
        except _Refused as refused:
            self._record_violation(refused, now)
        self.signals.committed(after)
        return self.task(actor, task_id)

    @operation(Permission.TASK_CLAIM)
    def release_task(self, actor: Actor, task_id: str) -> TaskRow:
        """Give a claimed task back to its candidates (only the claimant can)."""
        now = self.clock.now()
        after = self.signals.after_commit(now.timestamp())
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(actor.tenant_id)
            task, run = self._open_task(tx, actor, task_id, Permission.TASK_CLAIM)
            if task.claimed_by != actor.user_id:
                raise ConflictError(f"task {task_id} is not claimed by {actor.user_id}")
            released = TaskReleased(task.step, task.task_id, actor.user_id)
            self.facts.deliver(tx, Delivery(task.run_id, released, actor.user_id), now, after, run)
            tx.update_task(task_id, claimed_by=None, claimed_at=None)
        self.signals.committed(after)
        return self.task(actor, task_id)

    @operation(Permission.TASK_DECIDE)
    def decide_task(self, actor: Actor, decision: TaskDecision) -> engine.Decision:
        """Record one person's decision on a task (signed where the step says so)."""
        return self.decide_tasks([(actor, decision)])[0]

    @operation(Permission.TASK_DECIDE)
    def decide_tasks(
        self, decisions: Sequence[tuple[Actor, TaskDecision]]
    ) -> list[engine.Decision]:
        """Several people's decisions in one transaction (group commit).

        If one is refused under segregation of duties, none is applied: the transaction
        rolls back, the refusal is journaled on its own, and the call raises.
        """
        now = self.clock.now()
        out: list[engine.Decision] = []
        # Signers re-authenticate before the decisions' transaction: a failed attempt is
        # counted (and chained) in a transaction of its own, whatever happens next.
        methods = [self._reauthenticate(actor, decision) for actor, decision in decisions]
        prepared = self._prepare(
            [(actor, decision.task_id) for actor, decision in decisions],
            Permission.TASK_DECIDE,
            now,
            lambda i, task, run: self._completion(*decisions[i], methods[i], task, run, now),
        )
        after = self.signals.after_commit(now.timestamp())
        try:
            with self.store.transaction() as unscoped:
                known = _read_ahead(unscoped, decisions)
                for (actor, decision), method, ahead in zip(
                    decisions, methods, prepared, strict=True
                ):
                    tx = unscoped.scoped(actor.tenant_id)
                    # A task read ahead serves once: a second decision on it reads it again
                    # and finds it closed.
                    seen = known.pop((actor.tenant_id, decision.task_id), None)
                    task, run = self._open_task(
                        tx, actor, decision.task_id, Permission.TASK_DECIDE, seen
                    )
                    event = self._completion(actor, decision, method, task, run, now)
                    delivery = Delivery(task.run_id, event, actor.user_id)
                    decided = self.facts.deliver(tx, delivery, now, after, run, ahead)
                    if not decided.accepted:  # nothing was recorded: the caller lost
                        raise ConflictError(f"task {task.task_id} was decided meanwhile")
                    out.append(decided)
        except _Refused as refused:
            self._record_violation(refused, now)
        self.signals.committed(after)
        return out

    def _claim(self, actor: Actor, task: TaskRow, run: RunRow, role: str) -> TaskClaimed:
        acting_role, behalf = self._candidacy(actor, task, role)
        self._judge(actor, acting_role, behalf, task, run, "claim")
        return TaskClaimed(task.step, task.task_id, actor.user_id, acting_role, behalf)

    def _completion(
        self,
        actor: Actor,
        decision: TaskDecision,
        method: str | None,
        task: TaskRow,
        run: RunRow,
        now: datetime,
    ) -> TaskCompleted:
        acting_role, behalf = self._candidacy(actor, task, decision.role)
        self._judge(actor, acting_role, behalf, task, run, "decide")
        signature = self._sign(actor, decision, method, task, run, now)
        return TaskCompleted(
            task.step, task.task_id, actor.user_id, decision.outcome, acting_role,
            decision.comment, behalf, signature,
        )  # fmt: skip

    def _prepare(
        self,
        wanted: Sequence[tuple[Actor, str]],
        permission: Permission,
        now: datetime,
        event_of: Callable[[int, TaskRow, RunRow], Event],
    ) -> list[Prepared | None]:
        """Each act ``(actor, task)`` folded into its run ahead (ADR 0028), where allowed."""

        def act(i: int, task: TaskRow, run: RunRow) -> Event | None:
            with suppress(AndonError, _Refused):  # the transaction refuses it, saying why
                authz.require(wanted[i][0], permission, task.plant)
                return event_of(i, task, run)
            return None

        acts = [(actor.tenant_id, task_id, actor.user_id) for actor, task_id in wanted]
        return preparation.task_acts(self.templates, acts, now, act)

    def _open_task(
        self,
        tx: SqlTransaction,
        actor: Actor,
        task_id: str,
        permission: Permission,
        seen: TaskRow | None = None,
    ) -> tuple[TaskRow, RunRow]:
        task = seen or tx.task(task_id)
        if task is None:
            raise NotFoundError(f"no task '{task_id}'")
        authz.require(actor, permission, task.plant)
        run = tx.run(task.run_id)
        assert run is not None
        if seen is None:
            # Read again under the run's lock: every change to a task is made holding it,
            # so a decision that committed while we waited is seen here, not missed.
            task = tx.task(task_id)
            assert task is not None
        if task.status != "open":
            raise ConflictError(f"task {task_id} is {task.status}")
        return task, run

    def _candidacy(self, actor: Actor, task: TaskRow, role: str) -> tuple[str, str]:
        """The role ``actor`` acts in on ``task`` and for whom ("" = in person)."""
        candidates = [*task.roles, *task.escalated_to]
        wanted = [role] if role else candidates
        for candidate in wanted:
            if candidate in candidates and actor.grant_for(candidate, task.plant):
                return candidate, ""
        for candidate in wanted:
            delegation = actor.delegation_for(candidate, task.plant)
            if candidate in candidates and delegation is not None:
                return candidate, delegation.delegator
        if role and role not in candidates:
            raise GovernanceError(
                f"task {task.task_id} is for {', '.join(candidates)}, not {role!r}"
            )
        raise GovernanceError(
            f"{actor.user_id} holds none of {', '.join(candidates)} at "
            f"{task.plant or 'tenant level'} (in person or by delegation) for task {task.task_id}"
        )

    def _reauthenticate(self, actor: Actor, decision: TaskDecision) -> str | None:
        given = decision.credentials
        if given is None:
            return None
        if self._authenticate is None:
            raise GovernanceError("signing is not available: no authenticator is configured")
        return self._authenticate(actor, given.password, given.second_factor)

    def _sign(
        self,
        actor: Actor,
        decision: TaskDecision,
        method: str | None,
        task: TaskRow,
        run: RunRow,
        now: datetime,
    ) -> JsonObject | None:
        """The signature manifest where the step is signed, bound to the run's chain head."""
        template = self.templates.get(actor.tenant_id, run.template_id, run.template_version)
        spec = template.step(task.step).spec
        wanted = spec.signature if isinstance(spec, ApprovalSpec) else None
        given = decision.credentials
        if wanted is None:
            if given is not None:
                raise InputError(f"step {task.step} is not signed; give no credentials")
            return None
        if given is None or method is None:
            raise GovernanceError(
                f"step {task.step} needs an electronic signature ({wanted.meaning}): "
                "re-enter your password to sign"
            )
        if wanted.reason_required and not given.reason.strip():
            raise InputError(f"signing step {task.step} needs a reason")
        record = signatures.SignedRecord(
            run.run_id, task.task_id, task.step, decision.outcome, wanted.meaning,
            given.reason.strip(), actor.user_id, actor.name,
            now.astimezone(UTC).isoformat(), method, run.last_hash,
        )  # fmt: skip
        return signatures.manifest(record)

    def _judge(
        self,
        actor: Actor,
        role: str,
        behalf: str,
        task: TaskRow,
        run_row: RunRow,
        attempted: str,
    ) -> None:
        """Raise ``_Refused`` when segregation of duties forbids this act."""
        template = self.templates.get(
            actor.tenant_id, run_row.template_id, run_row.template_version
        )
        acts = _acts(run_row.state)
        view = duties.TaskView(
            run_row.run_id,
            task.step,
            task.task_id,
            run_row.started_by,
            _regulated(template, task.step),
            tuple(acts),
            tuple(a for a in acts if a.step == task.step and a.decided),
            duties.barred_people(template.duties.barred, run_row.state.get("input")),
        )
        violation = duties.judge(actor, role, behalf, view, template.duties)
        if violation is not None:
            raise _Refused(actor, task, attempted, behalf, violation)

    def _record_violation(self, refused: _Refused, now: datetime) -> None:
        """Journal the refused attempt in a transaction of its own, then raise."""
        task, violation = refused.task, refused.violation
        event = PolicyViolated(
            task.step, task.task_id, refused.actor.user_id, refused.attempted, violation.rule,
            violation.message, refused.behalf,
        )  # fmt: skip
        after = self.signals.after_commit(now.timestamp())
        with self.store.transaction() as unscoped:
            tx = unscoped.scoped(refused.actor.tenant_id)
            delivery = Delivery(task.run_id, event, refused.actor.user_id)
            self.facts.deliver(tx, delivery, now, after)
        self.signals.committed(after)
        raise GovernanceError(f"{violation.message} [{violation.rule}]")


def _regulated(template: Template, step_id: str) -> bool:
    spec = template.step(step_id).spec
    return bool(getattr(spec, "signature", None)) or template.regulated


def _read_ahead(
    tx: SqlTransaction, decisions: Sequence[tuple[Actor, TaskDecision]]
) -> dict[tuple[str, str], TaskRow]:
    """Lock a batch's runs and read their tasks in a few statements per tenant (on
    PostgreSQL; SQLite reads cost no round trip), rather than three per decision."""
    known: dict[tuple[str, str], TaskRow] = {}
    if len(decisions) < 2:
        return known
    decided: dict[str, list[str]] = {}
    for actor, decision in decisions:
        decided.setdefault(actor.tenant_id, []).append(decision.task_id)
    for tenant, ids in sorted(decided.items()):
        scoped = tx.scoped(tenant)
        unlocked = scoped.tasks_by_id(ids)
        scoped.lock_runs([task.run_id for task in unlocked.values()])
        # Read again under the runs' locks: a task decided while we waited shows closed.
        tasks = scoped.tasks_by_id(ids) if unlocked else unlocked
        known.update(((tenant, task_id), task) for task_id, task in tasks.items())
    return known


class _Refused(Exception):
    """Carries a duties refusal out of the transaction, which then rolls back."""

    def __init__(
        self,
        actor: Actor,
        task: TaskRow,
        attempted: str,
        behalf: str,
        violation: duties.Violation,
    ) -> None:
        super().__init__(violation.message)
        self.actor = actor
        self.task = task
        self.attempted = attempted
        self.behalf = behalf
        self.violation = violation


def _acts(state: JsonObject) -> list[duties.Act]:
    """Every decision and claim recorded in a run's snapshot, step by step (read straight
    from the stored state: only the steps' details are needed)."""
    found: list[duties.Act] = []
    steps = state.get("steps")
    for step_id, step in (steps if isinstance(steps, dict) else {}).items():
        detail = step.get("detail") if isinstance(step, dict) else None
        if not isinstance(detail, dict):
            continue
        approvals = detail.get("approvals")
        for entry in approvals if isinstance(approvals, list) else []:
            if isinstance(entry, dict):
                found.append(_act(step_id, entry, decided=True))
        claim = detail.get("claimed")
        if isinstance(claim, dict):
            found.append(_act(step_id, claim, decided=False))
    return found


def _act(step_id: str, entry: JsonObject, *, decided: bool) -> duties.Act:
    return duties.Act(
        step_id,
        str(entry.get("actor", "")),
        str(entry.get("role", "")),
        str(entry.get("on_behalf_of", "")),
        decided,
    )
