"""Segregation of duties, judged from a run's own record.

Checked when a task is claimed and again when it is decided. The judgement is pure: the
runtime passes who acts (and for whom), the task, the run's initiator and every earlier
act on the run, and the rules its template declares. A refusal names the rule, so it can
be journaled as a policy-violation fact and explained to the person refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from andon.core.template import DutyRules
from andon.governance.authz import is_admin_role
from andon.governance.identity import Actor


@dataclass(frozen=True, slots=True)
class Act:
    """Someone acted on a step of the run, in a role, possibly for someone else."""

    step: str
    actor: str
    role: str
    on_behalf_of: str = ""
    decided: bool = True
    """A decision (as opposed to a claim)."""


@dataclass(frozen=True, slots=True)
class TaskView:
    run_id: str
    step: str
    task_id: str
    initiator: str
    regulated: bool
    """The step carries an electronic signature (or the template is regulated)."""
    acts: Sequence[Act] = field(default=())
    """Every earlier act on the run, this task's decisions included."""
    current: Sequence[Act] = field(default=())
    """Decisions already taken on this task (this visit of the step)."""
    barred: Mapping[str, str] = field(default_factory=dict)
    """People the template's ``duties.barred`` names through the run's input: user id ->
    the input path that names them."""


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    message: str


INITIATOR = "initiator-cannot-approve"
DISTINCT = "distinct-approvers"
OWN_DELEGATION = "no-approval-through-own-delegation"
CONFLICTING_ROLES = "conflicting-roles"
SEPARATE_STEPS = "separate-steps"
NO_MACHINE_SIGNATURE = "service-or-admin-cannot-sign"
BARRED = "barred-by-run-input"


def barred_people(paths: Sequence[str], run_input: object) -> dict[str, str]:
    """User id -> path, for each of ``paths`` (``input.a.b``) naming someone in the run's
    input; a path leading nowhere, or to something other than a name, bars nobody."""
    found: dict[str, str] = {}
    for path in paths:
        value = run_input
        for part in path.split(".")[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            found.setdefault(value, path)
    return found


def judge(
    actor: Actor,
    role: str,
    on_behalf_of: str,
    task: TaskView,
    rules: DutyRules,
) -> Violation | None:
    """The first rule ``actor`` would break by acting on ``task`` in ``role``, or None."""
    who = actor.user_id
    people = {who, on_behalf_of} - {""}
    if who == task.initiator:
        return Violation(INITIATOR, f"{who} started run {task.run_id} and may not approve it")
    for person in sorted(people):
        if person in task.barred:
            path = task.barred[person]
            return Violation(
                BARRED,
                f"{person} is the run's {path.removeprefix('input.')} ({path}) and may not "
                f"act on run {task.run_id}",
            )
    if on_behalf_of and on_behalf_of == task.initiator:
        return Violation(
            OWN_DELEGATION,
            f"{who} acts for {on_behalf_of}, who started run {task.run_id}: no approving "
            "through the initiator's delegation",
        )
    for act in task.current:
        if people & {act.actor, act.on_behalf_of} - {""}:
            return Violation(
                DISTINCT,
                f"{act.actor} already decided task {task.task_id}"
                + (f" for {act.on_behalf_of}" if act.on_behalf_of else "")
                + "; a quorum needs distinct people",
            )
    if task.regulated:
        if actor.is_service:
            return Violation(
                NO_MACHINE_SIGNATURE,
                f"{who} is a service account and may not sign step {task.step}",
            )
        admin = next((g.role for g in actor.grants if is_admin_role(g.role)), None)
        if admin is not None:
            return Violation(
                NO_MACHINE_SIGNATURE,
                f"{who} holds the administrative role {admin!r} and may not sign step {task.step}",
            )
    for first, second in rules.conflicting_roles:
        for mine, other in ((first, second), (second, first)):
            if role != mine:
                continue
            earlier = next(
                (a for a in task.acts if people & {a.actor, a.on_behalf_of} and a.role == other),
                None,
            )
            if earlier is not None:
                return Violation(
                    CONFLICTING_ROLES,
                    f"{who} acted as {other} on step {earlier.step} of run {task.run_id} and "
                    f"may not also act as {mine} on it",
                )
    for before, after in rules.separate_steps:
        if task.step != after:
            continue
        earlier = next(
            (a for a in task.acts if a.step == before and people & {a.actor, a.on_behalf_of}),
            None,
        )
        if earlier is not None:
            return Violation(
                SEPARATE_STEPS,
                f"{who} acted on step {before} of run {task.run_id} and may not act on "
                f"step {after}",
            )
    return None
