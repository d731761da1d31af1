"""Simulated approvers: they see open tasks and decide after realistic business-hour delays.

Each (task, role) gets one planned decision, sampled from a generator keyed by the case,
step, visit and role. An escalation brings the decision forward: on an ``any`` task the
person the task was escalated to decides; on an ``all`` task the deputy of each role that
has not signed yet steps in (the primary may be on leave).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from andon.store.base import TaskRow
from andon.tools.demo.calendar import Calendar, keyed, lognormal
from andon.tools.demo.data import DEFAULT_HABIT, ESCALATED_HABIT, HABITS, SUPPLIERS, RoleHabit
from andon.tools.demo.generate import Case
from andon.tools.demo.staff import holder_id

DECISION = 2

REJECT_REASONS: dict[str, tuple[str, ...]] = {
    "purchase-requisition": (
        "no budget left on this cost centre this quarter",
        "use the framework agreement supplier instead",
        "split into smaller orders is not allowed; resubmit as one",
        "need-by date does not justify this spend now",
    ),
    "supplier-ncr": (
        "disposition not acceptable: sort at the supplier instead",
        "cost not justified; return the lot to the vendor",
        "value above the concession limit; scrap instead",
        "containment evidence missing for stock in transit",
    ),
}


@dataclass(frozen=True, slots=True)
class Planned:
    at: float
    task_id: str
    actor: str
    role: str
    outcome: str
    comment: str
    step: str
    case_key: str


def actor_id(case: Case, role: str, deputy: bool = False) -> str:
    return holder_id(case.plant, role, deputy)


class People:
    def __init__(
        self,
        seed: int,
        case_of: Callable[[str], Case | None],
        outcomes_of: Callable[[Case, str], tuple[str, ...]],
        schedule: Callable[[float, int, str], None],
    ) -> None:
        self.seed = seed
        self._case_of = case_of
        self._outcomes_of = outcomes_of
        self._schedule = schedule
        self._levels: dict[str, int] = {}
        self._keys: dict[str, list[str]] = {}
        self.pending: dict[str, Planned] = {}

    # ---- seeing tasks ------------------------------------------------------------------

    def observe(self, open_tasks: list[TaskRow], now: datetime) -> None:
        """Plan decisions for new tasks, react to escalations, forget closed tasks."""
        mine = []
        for task in open_tasks:
            case = self._case_of(task.run_id)
            if case is not None:
                mine.append((case.key, task.step, task.task_id, case, task))
        mine.sort(key=lambda m: (m[0], m[1], m[2].rsplit(":", 1)[-1]))
        seen = set()
        for _, _, task_id, case, task in mine:
            seen.add(task_id)
            level = self._levels.get(task_id)
            if level is None:
                self._levels[task_id] = task.level
                self._plan(case, task)
            elif task.level > level:
                self._levels[task_id] = task.level
                self._escalated(case, task, now)
        for task_id in [t for t in self._levels if t not in seen]:
            del self._levels[task_id]
            for key in self._keys.pop(task_id, []):
                self.pending.pop(key, None)

    def take(self, key: str, at: float) -> Planned | None:
        """The decision planned under ``key`` if it is still due at ``at``."""
        planned = self.pending.get(key)
        if planned is None or planned.at != at:
            return None
        del self.pending[key]
        return planned

    # ---- planning ----------------------------------------------------------------------

    def _plan(self, case: Case, task: TaskRow) -> None:
        created = datetime.fromtimestamp(task.created_at, UTC)
        visit = task.task_id.rsplit(":", 1)[-1]
        options = []
        for role in task.roles:
            rng = keyed(self.seed, case.key, task.step, visit, role)
            habit = self._habit(case, task.step, role)
            calendar = Calendar(case.plant, role)
            when = calendar.add(created, lognormal(rng, habit.median_bh, habit.sigma))
            options.append((when.timestamp(), role, self._decide(rng, case, task.step, habit)))
        if task.quorum == "any":
            options = [min(options)]
        for at, role, (outcome, comment) in options:
            actor = actor_id(case, role)
            self._put(
                case,
                task,
                role,
                Planned(at, task.task_id, actor, role, outcome, comment, task.step, case.key),
            )

    def _escalated(self, case: Case, task: TaskRow, now: datetime) -> None:
        visit = task.task_id.rsplit(":", 1)[-1]
        if task.quorum == "any" and task.escalated_to:
            role = task.escalated_to[-1]
            rng = keyed(self.seed, case.key, task.step, visit, "escalated", role)
            habit = RoleHabit(
                ESCALATED_HABIT.median_bh,
                ESCALATED_HABIT.sigma,
                self._habit(case, task.step, role).reject,
            )
            at = Calendar(case.plant, role).add(now, lognormal(rng, habit.median_bh, habit.sigma))
            outcome, comment = self._decide(rng, case, task.step, habit)
            if all(p.at > at.timestamp() for p in self._open(task.task_id)):
                self._drop(task.task_id)
                planned = Planned(
                    at.timestamp(),
                    task.task_id,
                    actor_id(case, role),
                    role,
                    outcome,
                    comment,
                    task.step,
                    case.key,
                )
                self._put(case, task, role, planned)
            return
        for planned in self._open(task.task_id):
            rng = keyed(self.seed, case.key, task.step, visit, "deputy", planned.role)
            calendar = Calendar(case.plant, planned.role, deputy=True)
            at = calendar.add(now, lognormal(rng, ESCALATED_HABIT.median_bh, ESCALATED_HABIT.sigma))
            if at.timestamp() < planned.at:
                deputy = actor_id(case, planned.role, deputy=True)
                self._put(
                    case,
                    task,
                    planned.role,
                    Planned(
                        at.timestamp(),
                        task.task_id,
                        deputy,
                        planned.role,
                        planned.outcome,
                        planned.comment,
                        task.step,
                        case.key,
                    ),
                )

    def _habit(self, case: Case, step: str, role: str) -> RoleHabit:
        habit = HABITS.get(role, DEFAULT_HABIT)
        if step == "review_scar":
            supplier = SUPPLIERS.get(case.supplier)
            return RoleHabit(
                habit.median_bh + 2.0, habit.sigma, supplier.bad_8d if supplier else 0.1
            )
        return habit

    def _decide(
        self, rng: random.Random, case: Case, step: str, habit: RoleHabit
    ) -> tuple[str, str]:
        outcomes = self._outcomes_of(case, step)
        if "reject" in outcomes and rng.random() < habit.reject:
            reasons = REJECT_REASONS.get(case.template_id, ("not acceptable",))
            if step == "review_scar":
                return "reject", "8D incomplete: root cause not verified, resubmit D4-D6"
            return "reject", rng.choice(reasons)
        return ("approve" if "approve" in outcomes else outcomes[0]), ""

    def _put(self, case: Case, task: TaskRow, role: str, planned: Planned) -> None:
        visit = task.task_id.rsplit(":", 1)[-1]
        key = f"{case.key}|{task.step}|{visit}|{role}"
        keys = self._keys.setdefault(task.task_id, [])
        if key not in keys:
            keys.append(key)
        self.pending[key] = planned
        self._schedule(planned.at, DECISION, key)

    def _open(self, task_id: str) -> list[Planned]:
        found = (self.pending.get(k) for k in self._keys.get(task_id, []))
        return [p for p in found if p is not None]

    def _drop(self, task_id: str) -> None:
        for key in self._keys.pop(task_id, []):
            self.pending.pop(key, None)
