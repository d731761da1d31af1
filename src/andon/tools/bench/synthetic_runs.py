"""A seeded store of finished runs for the dashboard bench: NCRs and purchase requisitions
at three plants, driven through the real engine and written as the runtime writes them.

Every run is folded fact by fact by ``engine.advance`` (the pure core), and the rows are
built as ``runtime.facts.FactWriter`` builds them: journal rows hash-chained per run, the
final snapshot, and task rows opened, escalated and closed by the engine's commands. Only
the writing differs: rows go to the database in bulk inserts of many runs at once, which is
what makes 100,000 runs take a minute instead of an hour. Approvers, suppliers and ERP
faults follow the demo's people and plants (``andon.tools.demo.data``) on a plain 24 h clock.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from andon.core import codec, engine
from andon.core import commands as cmd
from andon.core.durations import parse_duration
from andon.core.events import (
    Event,
    EventReceived,
    IncidentRetried,
    RunStarted,
    StepFailed,
    StepSucceeded,
    TaskCompleted,
    TimerFired,
)
from andon.core.instances import InstanceSchema
from andon.core.json import JsonObject, JsonValue
from andon.core.loader import load_template
from andon.core.params import coerce_to_schema
from andon.core.run import Run, RunStatus
from andon.core.template import ApprovalSpec, ParamRef, Template
from andon.errors import AndonError
from andon.governance import audit
from andon.store.rows import dumps
from andon.tools.demo import data
from andon.tools.demo.calendar import lognormal, weighted

NCR = "supplier-ncr"
PR = "purchase-requisition"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
"""Monday morning: the first run of a synthetic store starts here (plant clock)."""
HOUR = 3600.0
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Setup:
    """What a run is started with, per template and plant: plain data, so that worker
    processes can take it (each compiles the template once)."""

    source: str
    """The published template text."""
    overlay_digest: str
    params: JsonObject
    """The parameters resolved from the template's defaults and the plant's overlay."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template
    schema: InstanceSchema


_COMPILED: dict[str, _Compiled] = {}


def _compiled(setup: Setup) -> _Compiled:
    found = _COMPILED.get(setup.source)
    if found is None:
        template = load_template(setup.source)
        found = _COMPILED[setup.source] = _Compiled(template, InstanceSchema(template.input_schema))
    return found


@dataclass(frozen=True, slots=True)
class Shape:
    runs: int = 10_000
    """Runs that complete."""
    seed: int = 1
    days: float = 365.0
    """Runs start spread over this many days from ``START``."""
    open_incidents: int = -1
    """Runs left parked in an incident; -1: one per 200 completed runs (at least one)."""
    tenant: str = "default"


@dataclass
class Rows:
    """Rows of many runs, for one bulk insert per table."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.runs)


def parked(shape: Shape) -> int:
    """How many runs stay parked in an incident besides the completed ones."""
    return shape.open_incidents if shape.open_incidents >= 0 else max(1, shape.runs // 200)


def chunk(shape: Shape, setups: dict[tuple[str, str], Setup], first: int, stop: int) -> Rows:
    """Rows of runs ``first`` to ``stop - 1`` of the ``shape.runs + parked(shape)`` runs;
    each run depends only on the seed and its index, so chunks can be made anywhere."""
    stuck_runs = parked(shape)
    total = shape.runs + stuck_runs
    every = total // stuck_runs if stuck_runs else 0
    rows = Rows()
    for index in range(first, min(stop, total)):
        stuck = bool(every) and index % every == every - 1 and index // every < stuck_runs
        rng = random.Random(f"{shape.seed}:{index}")
        at = START.timestamp() + shape.days * DAY * index / total + rng.uniform(0, 600)
        plant = weighted(rng, (("DE-STR", 0.45), ("US-GRR", 0.35), ("IE-COR", 0.2)))
        template_id = NCR if rng.random() < 0.35 else PR
        setup = setups[template_id, plant]
        run_id = f"{rng.getrandbits(64):016x}"
        _Simulation(shape.tenant, setup, run_id, plant, rng, stuck=stuck).play(at, rows)
    return rows


class _Simulation:
    """One run: the people and systems around it answer the engine's commands."""

    def __init__(
        self,
        tenant: str,
        setup: Setup,
        run_id: str,
        plant: str,
        rng: random.Random,
        *,
        stuck: bool,
    ) -> None:
        self.tenant = tenant
        self.setup = setup
        self.compiled = _compiled(setup)
        self.template = self.compiled.template
        self.plant = data.plant(plant)
        self.rng = rng
        self.stuck = stuck
        """Park this run in an incident for good (an ERP step that never recovers)."""
        self.outage = stuck or rng.random() < 0.004
        self.run = Run(run_id)
        self.queue: list[tuple[float, int, Event, str]] = []
        self.order = 0
        self.timers: set[str] = set()
        self.scar_answer_at = 0.0
        self.rows: list[dict[str, Any]] = []
        self.tasks: dict[str, dict[str, Any]] = {}
        self.last_hash = audit.GENESIS

    def play(self, at: float, out: Rows) -> None:
        started = RunStarted(
            self.template.id,
            self.template.version,
            self.setup.overlay_digest,
            self.plant.code,
            self._checked(self._input(at)),
            self.setup.params,
            self._starter(),
        )
        self._fold(started, started.started_by, at)
        while self.queue and not self.run.status.ended:
            at, _, event, actor = heapq.heappop(self.queue)
            if isinstance(event, TimerFired) and event.key not in self.timers:
                continue  # cancelled: its outbox row was deleted, nobody delivers it
            if isinstance(event, TimerFired):
                self.timers.discard(event.key)
            try:
                self._fold(event, actor, at)
            except AndonError:
                continue  # a decision on a task that closed meanwhile: refused, not journaled
            if self.run.status is RunStatus.INCIDENT and not self.stuck:
                # The ops desk retries the incident once the cause is gone (ERP back).
                self.outage = False
                back = at + lognormal(self.rng, 4 * HOUR, 0.8)
                self._later(back, IncidentRetried("ops-desk", "cause fixed"), "ops-desk")
        if not self.run.status.ended and not (self.stuck and self.run.status is RunStatus.INCIDENT):
            raise AndonError(f"synthetic run {self.run.id} did not end: {self.run.status}")
        stamp = self.rows[-1]["at"]
        out.events.extend(self.rows)
        out.tasks.update(self.tasks)
        out.runs.append(
            {
                "tenant_id": self.tenant,
                "run_id": self.run.id,
                "template_id": self.template.id,
                "template_version": self.template.version,
                "overlay_digest": self.setup.overlay_digest,
                "plant": self.plant.code,
                "status": self.run.status.value,
                "outcome": self.run.outcome,
                "state": dumps(codec.run_to_dict(self.run)),
                "revision": len(self.rows),
                "last_seq": self.run.seq,
                "last_hash": self.last_hash,
                "started_by": self.run.started_by,
                "created_at": self.rows[0]["at"],
                "updated_at": stamp,
                "ended_at": self.run.ended_at.timestamp() if self.run.ended_at else None,
            }
        )

    # ---- the engine and the rows it leaves (as runtime.facts.FactWriter writes them) ------

    def _fold(self, event: Event, actor: str, at: float) -> None:
        now = datetime.fromtimestamp(at, UTC)
        decision = engine.advance(self.template, self.run, event, now)
        if not decision.accepted:
            return
        self.run = run = decision.run
        body = codec.event_to_dict(event)
        kind = str(body.pop("type"))
        trace: list[JsonValue] = list(decision.trace)
        record = audit.journal_record(self.tenant, run.id, run.seq, kind, body, trace, actor, at)
        self.last_hash = audit.chain_hash(self.last_hash, record)
        self.rows.append(
            {
                "tenant_id": self.tenant,
                "run_id": run.id,
                "seq": run.seq,
                "type": kind,
                "body": dumps(body),
                "trace": dumps(trace),
                "actor": actor,
                "at": at,
                "hash": self.last_hash,
            }
        )
        for command in decision.commands:
            self._apply(command, at)

    def _apply(self, command: cmd.Command, at: float) -> None:
        if isinstance(command, cmd.RunAction):
            self._act(command, at)
        elif isinstance(command, cmd.StartTimer):
            self.timers.add(command.key)
            self._later(command.due_at.timestamp(), TimerFired(command.key), "worker")
        elif isinstance(command, cmd.CancelTimer):
            self.timers.discard(command.key)
        elif isinstance(command, cmd.OpenTask):
            self._open(command, at)
        elif isinstance(command, cmd.EscalateTask):
            task = self.tasks[command.task_id]
            task["level"] = command.level
            task["escalated_to"] = dumps([*json.loads(task["escalated_to"]), command.role])
        elif isinstance(command, cmd.CloseTask):
            self.tasks[command.task_id].update(
                status="closed", outcome=command.outcome, closed_at=at
            )
        elif isinstance(command, cmd.AwaitEvent):
            self._await(command, at)
        elif isinstance(command, cmd.CompleteRun):
            self.timers.clear()
            for task in self.tasks.values():
                if task["status"] == "open":
                    task.update(status="cancelled", closed_at=at)

    def _later(self, at: float, event: Event, actor: str) -> None:
        self.order += 1
        heapq.heappush(self.queue, (at, self.order, event, actor))

    # ---- the world around the run ----------------------------------------------------------

    def _act(self, command: cmd.RunAction, at: float) -> None:
        rng = self.rng
        took = rng.uniform(0.2, 2.5)
        rate = data.FAILURE_RATES.get(command.action, 0.02)
        erp = command.action in data.ERP_ACTIONS
        failed = None
        if self.outage and erp:
            failed = f"{rng.choice(data.TRANSIENT_ERRORS)} (outage)"
        elif rng.random() < rate:
            failed = rng.choice(data.TRANSIENT_ERRORS)
        event: Event
        if failed is not None:
            event = StepFailed(command.step, command.attempt, failed, draw=rng.random())
        else:
            system = command.action.split(".")[0].upper()
            output: JsonObject = {"document": f"{system}-{rng.randrange(10**7)}"}
            event = StepSucceeded(command.step, command.attempt, output)
        self._later(at + took, event, "worker")

    def _open(self, command: cmd.OpenTask, at: float) -> None:
        due = command.due_at.timestamp() if command.due_at else None
        self.tasks[command.task_id] = {
            "tenant_id": self.tenant, "task_id": command.task_id, "run_id": self.run.id,
            "step": command.step, "title": command.title, "plant": self.plant.code,
            "roles": dumps(list(command.roles)), "quorum": command.quorum, "status": "open",
            "outcome": None, "level": 0, "escalated_to": "[]", "created_at": at,
            "due_at": due, "closed_at": None, "claimed_by": None, "claimed_at": None,
        }  # fmt: skip
        deciders = command.roles if command.quorum == "all" else command.roles[:1]
        escalation = self._escalation(command.step)
        for role in deciders:
            habit = data.HABITS.get(role, data.DEFAULT_HABIT)
            if command.step == "review_scar":
                habit = data.REVIEW_8D_HABIT
            slow = {"US-GRR": 1.25, "IE-COR": 0.85}.get(self.plant.code, 1.0)
            took = lognormal(self.rng, habit.median_bh * 2.2 * HOUR * slow, habit.sigma)
            actor_role = role
            if (
                escalation is not None
                and command.quorum == "any"
                and took > escalation[0]
                and self.rng.random() < 0.5
            ):
                # The escalation reached someone who decided before the candidate did (under
                # a quorum of all, every candidate role still has to sign).
                took = escalation[0] + lognormal(self.rng, 3 * HOUR, 0.6)
                actor_role = escalation[1]
            rejects = habit.reject if command.step != "review_scar" else 0.12
            outcome = "reject" if self.rng.random() < rejects else "approve"
            actor = f"{self.plant.short.lower()}-{actor_role.lower()}{self.rng.randint(1, 3)}"
            decision = TaskCompleted(command.step, command.task_id, actor, outcome, actor_role)
            self._later(at + took, decision, actor)

    def _escalation(self, step_id: str) -> tuple[float, str] | None:
        """(seconds after opening, role) of the step's first escalation, if it has one."""
        spec = self.template.step(step_id).spec
        if not isinstance(spec, ApprovalSpec) or not spec.escalations:
            return None
        first = spec.escalations[0]
        after = first.after
        if isinstance(after, ParamRef):
            after = parse_duration(str(self.run.params[after.name]))
        role = first.to if isinstance(first.to, str) else str(self.run.params[first.to.name])
        return after.total_seconds(), role

    def _await(self, command: cmd.AwaitEvent, at: float) -> None:
        supplier = data.SUPPLIERS[str(self.run.input["supplier"])]
        if self.scar_answer_at <= at:
            median = supplier.scar_days if command.step != "await_scar_final" else 3.0
            self.scar_answer_at = at + lognormal(self.rng, median * DAY, supplier.scar_sigma)
        answer = {"ncr_id": self.run.input["ncr_id"], "report": "8D", "supplier": supplier.id}
        event_id = f"{self.rng.getrandbits(64):016x}"
        event = EventReceived(command.step, command.event_type, command.key, answer, event_id)
        self._later(self.scar_answer_at, event, f"event:supplier-portal/{supplier.id}")

    def _checked(self, data: JsonObject) -> JsonObject:
        """The input as ``start_run`` stores it (checked against the template, coerced)."""
        problems = self.compiled.schema.problems(data, "input")
        if problems:
            raise AndonError(f"synthetic input does not match: {'; '.join(problems)}")
        coerced = coerce_to_schema(data, self.template.input_schema)
        assert isinstance(coerced, dict)
        return coerced

    def _starter(self) -> str:
        if self.template.id == NCR:
            return f"{self.plant.short.lower()}-qi1"
        return self.rng.choice(self.plant.requesters)

    def _input(self, at: float) -> JsonObject:
        rng = self.rng
        plant = self.plant
        stamp = datetime.fromtimestamp(at, UTC)
        if self.template.id == NCR:
            part = rng.choice(plant.parts)
            defect = rng.choice(part.defects)
            disposition = weighted(rng, data.DISPOSITIONS[defect.split("-")[0]])
            qty = max(1, round(part.lot_size * min(1.0, lognormal(rng, 0.05, 1.0))))
            return {
                "ncr_id": f"NCR-{plant.short}-{rng.randrange(10**7):07d}",
                "part": part.number, "lot": f"L{stamp:%y%m}-{rng.randrange(1, 400):04d}",
                "supplier": part.supplier, "qty_rejected": qty,
                "value": {"amount": round(qty * part.unit_cost, 2), "currency": plant.currency},
                "disposition": disposition, "severity": data.SEVERITY[defect],
                "defect_code": defect,
            }  # fmt: skip
        name = weighted(rng, tuple(((c, m), s) for c, s, m in data.CATEGORIES))
        value = lognormal(rng, data.PR_MEDIAN, data.PR_SIGMA) * name[1]
        amount = max(12.5, round(min(value, 2_400_000.0), 2))
        quotes = 3 if amount >= plant.quotes_from and rng.random() < 0.85 else rng.randint(0, 3)
        return {
            "pr_id": f"PR-{plant.short}-{rng.randrange(10**7):07d}",
            "requester": rng.choice(plant.requesters),
            "cost_center": rng.choice(plant.cost_centers), "category": name[0],
            "total": {"amount": amount, "currency": plant.currency}, "quotes": quotes,
            "need_by": (stamp.date() + timedelta(days=rng.randrange(7, 43))).isoformat(),
        }  # fmt: skip
