"""The discrete-event loop: the real service and worker on a manual clock.

Each turn drains the worker (everything due now), looks at the database the way people and
connectors would (open tasks, runs in incident), then moves the clock to the earliest of the
next outbox due time and the next simulated arrival, decision or supplier response.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from andon.bootstrap import App
from andon.errors import ConflictError, GovernanceError, InputError, NotFoundError
from andon.runtime.clock import ManualClock
from andon.runtime.directory import DEFAULT_TENANT
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.store import schema as s
from andon.store.base import TaskRow
from andon.tools.demo.actions import DemoActions
from andon.tools.demo.calendar import Calendar, keyed, lognormal
from andon.tools.demo.data import CUTOFF, OPERATOR_BH
from andon.tools.demo.generate import NCR, Case
from andon.tools.demo.people import DECISION, People, Planned
from andon.tools.demo.staff import OPS_DESK, SUPPLIER_PORTAL, Staff
from andon.tools.demo.suppliers import RESPONSE, Suppliers

ARRIVAL, RETRY = 0, 3
SCAR_EVENT = "supplier.scar_response_received"
UNFINISHED = ("created", "running", "incident")
MAX_TURNS = 200_000

Tick = Callable[[datetime, int, int], None]


class Simulation:
    def __init__(
        self,
        app: App,
        staff: Staff,
        clock: ManualClock,
        seed: int,
        cases: list[Case],
        versions: dict[str, int],
        actions: DemoActions,
    ) -> None:
        """``actions`` are registered already (the templates were published after them)."""
        self.app = app
        self.staff = staff
        self.service = app.service
        self.clock = clock
        self.seed = seed
        self.versions = versions
        self.cases = {c.key: c for c in cases}
        self.by_run: dict[str, Case] = {}
        self._run_of: dict[str, str] = {}
        self.run_ids: list[str] = []
        self.unfinished = len(cases)
        self.turns = 0
        self._agenda: list[tuple[float, int, str, float]] = []
        """(when it fires, kind, key, the plant time it was planned for): the two differ
        only in a live demo, where plant delays are compressed (``go_live``)."""
        self._speed = 0.0
        self.held: Callable[[TaskRow, datetime], bool] = lambda task, now: False
        """Tasks the simulated people leave alone for now (a live demo's humans decide
        them first)."""
        self._arrivals_left = len(cases)
        self._retries: dict[str, float] = {}
        self._incidents: dict[str, int] = {}
        self.people = People(seed, self.case_of, self._outcomes, self._push)
        self.suppliers = Suppliers(seed, self._push)
        self.actions = actions
        actions.plant = self
        self.worker = app.worker(
            WorkerSettings(batch=256, threads=1, run_prefix="demo-"),
            owner=f"demo-{uuid.uuid4().hex[:8]}",
            draw=self.actions.draw,
        )
        for case in cases:
            self._push(case.arrives.timestamp(), ARRIVAL, case.key)

    # ---- hooks for the simulated systems ------------------------------------------------

    def case_of(self, run_id: str) -> Case | None:
        return self.by_run.get(run_id)

    def scar_issued(self, case: Case, now: datetime) -> None:
        self.suppliers.issued(case, now)

    def scar_escalated(self, case: Case, now: datetime) -> None:
        self.suppliers.escalated(case, now)

    def _outcomes(self, case: Case, step: str) -> tuple[str, ...]:
        template = self.service.template(
            self.staff.admin, case.template_id, self.versions[case.template_id]
        )
        spec = template.step(step).spec
        outcomes = getattr(spec, "outcomes", None) or {"approve": None}
        return tuple(outcomes)

    def _push(self, at: float, kind: int, key: str) -> None:
        fires = at
        if self._speed:  # live: a delay of d plant seconds takes d / speed seconds
            now = self.clock.now().timestamp()
            fires = now + max(0.0, at - now) / self._speed
        heapq.heappush(self._agenda, (fires, kind, key, at))

    # ---- the loop -----------------------------------------------------------------------

    def run(self, tick: Tick, until: datetime = CUTOFF) -> None:
        """Move the clock from event to event until every case ended or ``until``."""
        limit = until.timestamp()
        for self.turns in range(1, MAX_TURNS + 1):
            self._drain()
            due = self._observe()
            tick(self.clock.now(), len(self.run_ids), len(self.run_ids) - self.unfinished)
            if self._arrivals_left == 0 and self.unfinished == 0:
                return
            head = self._agenda[0][0] if self._agenda else None
            upcoming = [t for t in (due, head) if t is not None]
            if not upcoming or min(upcoming) > limit:
                return
            self._move_to(min(upcoming))
            self._fire()
        raise RuntimeError(f"the demo did not settle within {MAX_TURNS} turns")

    def go_live(self, speed: float) -> None:
        """From now on the clock follows the wall clock (``step_live``), and the simulated
        people, suppliers and operators act ``speed`` times faster than in plant time.
        What is already planned is re-planned at the new pace."""
        self._speed = speed
        planned, self._agenda = self._agenda, []
        for _, kind, key, at in planned:
            self._push(at, kind, key)

    def add_cases(self, cases: list[Case]) -> None:
        """More documents; each arrives at its ``arrives`` time."""
        for case in cases:
            self.cases[case.key] = case
            self._arrivals_left += 1
            heapq.heappush(self._agenda, (case.arrives.timestamp(), ARRIVAL, case.key, 0.0))

    def adopt(self, run_id: str, case: Case) -> None:
        """Take on a run an earlier session started (a restarted live demo), so that its
        tasks get decided and its incidents retried again."""
        self.cases[case.key] = case
        self.by_run[run_id] = case
        self._run_of[case.key] = run_id
        self.run_ids.append(run_id)
        self.unfinished += 1

    def step_live(self, now: datetime) -> None:
        """One turn of a live demo: the clock moves to ``now`` (never back), the worker runs
        what is due, and the people and systems act on what is due by then."""
        if now > self.clock.now():
            self.clock.set(now)
        self._drain()
        self._observe()
        self._fire()
        self._drain()

    def _drain(self) -> None:
        while self.worker.run_once():
            pass

    def _move_to(self, at: float) -> None:
        when = datetime.fromtimestamp(at, UTC)
        if when.timestamp() < at:  # float -> microseconds rounded down: stay due
            when += timedelta(microseconds=1)
        self.clock.set(when)

    def _observe(self) -> float | None:
        """Look at open tasks and unfinished runs; return the next outbox due time."""
        with self.service.store.reader() as reader:
            tasks = reader.scoped(DEFAULT_TENANT).tasks("open", None, 1_000_000)
            rows = reader.conn.execute(
                select(s.runs.c.run_id, s.runs.c.status).where(s.runs.c.status.in_(UNFINISHED))
            ).all()
            due = reader.conn.execute(select(func.min(s.outbox.c.due_at))).scalar()
        now = self.clock.now()
        self.people.observe([t for t in tasks if not self.held(t, now)], now)
        mine = sorted(
            (self.by_run[r.run_id].key, r.run_id, r.status) for r in rows if r.run_id in self.by_run
        )
        self.unfinished = len(mine)
        for _, run_id, status in mine:
            if status == "incident" and run_id not in self._retries:
                self._plan_retry(run_id, now)
        return float(due) if due is not None else None

    def _plan_retry(self, run_id: str, now: datetime) -> None:
        case = self.by_run[run_id]
        count = self._incidents.get(run_id, 0) + 1
        self._incidents[run_id] = count
        rng = keyed(self.seed, case.key, "incident", count)
        at = Calendar(case.plant, "OPS").add(now, lognormal(rng, OPERATOR_BH, 0.6)).timestamp()
        self._retries[run_id] = at
        self._push(at, RETRY, case.key)

    # ---- firing what is due -------------------------------------------------------------

    def _fire(self) -> None:
        now = self.clock.now().timestamp()
        due: dict[int, list[tuple[float, str]]] = {}
        while self._agenda and self._agenda[0][0] <= now:
            _, kind, key, at = heapq.heappop(self._agenda)
            due.setdefault(kind, []).append((at, key))
        self._start(due.get(ARRIVAL, []))
        self._respond(due.get(RESPONSE, []))
        self._decide(due.get(DECISION, []))
        self._retry(due.get(RETRY, []))

    def _start(self, due: list[tuple[float, str]]) -> None:
        cases = [self.cases[key] for _, key in due]
        if not cases:
            return
        by_starter: dict[str, list[Case]] = {}
        for case in cases:
            by_starter.setdefault(_starter(case), []).append(case)
        for starter, started in by_starter.items():
            requests = [
                # The version in force at the case's plant (what a promotion changed).
                StartRequest(case.template_id, case.input, plant=case.plant.code)
                for case in started
            ]
            run_ids = self.service.start_runs(self.staff.actor(starter), requests)
            for case, run_id in zip(started, run_ids, strict=True):
                self.by_run[run_id] = case
                self._run_of[case.key] = run_id
                self.run_ids.append(run_id)
        self._arrivals_left -= len(cases)
        self.unfinished += len(cases)

    def _respond(self, due: list[tuple[float, str]]) -> None:
        for at, key in due:
            taken = self.suppliers.take(key, at)
            if taken is None:
                continue
            case, data = taken
            self.service.send_event(
                self.staff.actor(SUPPLIER_PORTAL),
                SCAR_EVENT,
                case.document_id,
                data,
                source=f"supplier-portal/{case.supplier}",
                event_id=uuid.uuid4().hex,
            )

    def _decide(self, due: list[tuple[float, str]]) -> None:
        batch: list[Planned] = []
        tasks: set[str] = set()
        for at, key in due:
            planned = self.people.pending.get(key)
            if planned is not None and planned.at == at and planned.task_id in tasks:
                self._push(at, DECISION, key)  # one decision per task per transaction
                continue
            taken = self.people.take(key, at)
            if taken is not None:
                batch.append(taken)
                tasks.add(taken.task_id)
        if not batch:
            return
        rows = [
            (self.staff.actor(p.actor), TaskDecision(p.task_id, p.outcome, p.comment, p.role))
            for p in batch
        ]
        try:
            self.service.decide_tasks(rows)
        except (ConflictError, InputError, NotFoundError, GovernanceError):
            for row in rows:  # the batch rolled back; apply what still applies, one by one
                try:
                    self.service.decide_tasks([row])
                except (ConflictError, InputError, NotFoundError, GovernanceError):
                    continue
        now = self.clock.now()
        for planned in batch:
            if planned.step == "review_scar" and planned.outcome == "reject":
                self.suppliers.resubmit(self.cases[planned.case_key], now)

    def _retry(self, due: list[tuple[float, str]]) -> None:
        for at, key in due:
            run_id = self._run_of[key]
            if self._retries.get(run_id) != at:
                continue
            del self._retries[run_id]
            try:
                self.service.retry_incident(
                    self.staff.actor(OPS_DESK), run_id, "ERP is back; retrying"
                )
            except ConflictError:
                continue


def _starter(case: Case) -> str:
    if case.template_id == NCR:
        return f"{case.plant.short.lower()}-qi1"
    return str(case.input.get("requester", "intake"))
