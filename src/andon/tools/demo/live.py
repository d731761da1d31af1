"""``andon up --demo``: Andon with the demo plants running live, for a newcomer to look at.

On a fresh database the plants first run for about four weeks of history on a fast clock,
ending at the present moment: the dashboards have something to show, and the cases still
open then are the running cases and the inbox. From then on the clock follows the wall
clock; new NCRs and requisitions arrive at a gentle pace, and the simulated colleagues,
suppliers and operators act ``speed`` times faster than they would in a plant, so a case
moves within minutes. A few demo logins (people who are not simulated) are printed for the
browser; what they decide, they decide.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import func, select

from andon.bootstrap import App, build
from andon.config import Settings
from andon.errors import AndonError, ConflictError
from andon.governance import authz
from andon.runtime.clock import ManualClock
from andon.runtime.directory import DEFAULT_TENANT
from andon.store import schema as s
from andon.store.base import TaskRow
from andon.tools.demo import existing_runs, progress_bar, publish_reference
from andon.tools.demo.actions import DemoActions
from andon.tools.demo.data import PLANTS
from andon.tools.demo.generate import Case, generate
from andon.tools.demo.promotion import stage_promotion
from andon.tools.demo.sim import UNFINISHED, Simulation
from andon.tools.demo.staff import Staff

PASSWORD = "andon-demo"
STUTTGART = "DE-STR"
HISTORY_WEEKS = 3
TURN_S = 0.5
"""How often the live loop looks at the plants (wall seconds)."""
HELD_S = 600.0
"""A task one of the demo logins may decide waits this long (wall seconds, counted from
when it opened or the demo went live) before a simulated colleague takes it over."""


@dataclass(frozen=True, slots=True)
class Login:
    user: str
    name: str
    does: str
    grants: tuple[tuple[str, str], ...]
    """(role, site); an empty site is tenant-wide."""


LOGINS = (
    Login("anna", "Anna Keller", "quality engineer, Stuttgart: NCR dispositions (MRB), SCARs",
          (("QE", "DE-STR"), ("SQE", "DE-STR"))),
    Login("frank", "Frank Weber", "cost centre manager, Stuttgart: purchase requisitions",
          (("CCM", "DE-STR"),)),
    Login("olivia", "Olivia Byrne", "operations: runs parked in an incident, retries",
          ((authz.OPERATOR, ""),)),
    Login("lena", "Lena Roth", "process owner and auditor: every plant, templates, dashboards",
          ((authz.PROCESS_OWNER, ""), (authz.AUDITOR, ""))),
    Login("tom", "Tom Brandt", "template owner: signs promotions (one waits in his inbox)",
          (("OWNER", ""),)),
    Login("quinn", "Quinn Walsh", "quality assurance: signs promotions after Tom",
          (("QA", ""),)),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LiveSettings:
    seed: int = 1
    pace_s: float = 30.0
    """Mean wall seconds between two new documents (all plants together)."""
    speed: float = 60.0
    """How much faster than plant time the simulated people and suppliers act."""


def history_start(now: datetime) -> datetime:
    """Monday 06:00 UTC, ``HISTORY_WEEKS`` weeks before the week of ``now``."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=6, minute=0, second=0)
    return monday.replace(microsecond=0) - timedelta(weeks=HISTORY_WEEKS)


class LiveDemo:
    """The demo plants, the app they drive, and the loop that keeps them going."""

    def __init__(self, settings: Settings, live: LiveSettings, err: Console) -> None:
        wall = datetime.now(UTC)
        self.live = live
        self.err = err
        self.clock = ManualClock(history_start(wall))
        self.app: App = build(
            settings, clock=self.clock, new_id=lambda: f"demo-{uuid.uuid4().hex[:12]}"
        )
        try:
            self._prepare(wall)
        except BaseException:
            self.app.close()
            raise

    def _prepare(self, wall: datetime) -> None:
        app, admin = self.app, self.app.actor()
        actions = DemoActions(self.live.seed, self.clock)
        actions.register(app.actions)
        self.versions = publish_reference(app.service, admin, self.err)
        self.staff = Staff(app)
        self.staff.provision(
            role
            for template_id, version in self.versions.items()
            for role in app.service.template(admin, template_id, version).roles
        )
        provision_logins(app)
        fresh = existing_runs(app.service) == 0
        history = (
            generate(self.live.seed, frozenset(self.versions), 0, self.clock.now()) if fresh else []
        )
        self.sim = Simulation(
            app, self.staff, self.clock, self.live.seed, history, self.versions, actions
        )
        if not fresh:
            self._adopt_unfinished()
        else:
            with progress_bar(self.err) as progress:
                bar = progress.add_task("history", total=len(history))
                self.sim.run(
                    lambda now, started, ended: progress.update(
                        bar,
                        completed=ended,
                        description=f"history: plant time {now:%a %d %b %H:%M} UTC",
                    ),
                    until=wall,
                )
            stage_promotion(app, PASSWORD)  # a governed promotion waits for Tom
        # Never move the clock back: a database written by an earlier, faster demo may hold
        # times after the wall clock; the live clock then runs that far ahead of it.
        self.offset = max(timedelta(0), self._latest() - wall)
        self.clock.set(max(self.clock.now(), wall + self.offset))
        self.sim.go_live(self.live.speed)
        self.sim.held = held_for_logins(self.clock.now().timestamp())
        self._rng = random.Random(f"live:{self.live.seed}")
        self._pool: list[Case] = []
        self._rounds = 0
        self._next_at = self.clock.now() + self._gap()
        self._welcome()

    def _adopt_unfinished(self) -> None:
        """The demo documents an earlier session left open carry on where they stopped."""
        plants = {plant.code: plant for plant in PLANTS}
        r = s.runs
        with self.app.service.store.reader() as reader:
            rows = reader.conn.execute(
                select(r.c.run_id, r.c.template_id, r.c.plant, r.c.created_at, r.c.state)
                .where(r.c.tenant_id == DEFAULT_TENANT, r.c.status.in_(UNFINISHED))
                .where(r.c.template_id.in_(list(self.versions)))
                .order_by(r.c.created_at, r.c.run_id)
            ).all()
        for run_id, template_id, plant, created_at, state in rows:
            if plant not in plants:
                continue
            data = json.loads(state).get("input") if state else None
            if not isinstance(data, dict):
                continue
            arrives = datetime.fromtimestamp(float(created_at), UTC)
            case = Case(f"resumed/{run_id}", str(template_id), plants[plant], arrives, data,
                        str(data.get("supplier", "")))  # fmt: skip
            self.sim.adopt(str(run_id), case)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def run(self, stop: threading.Event, on_error: Callable[[str], None]) -> None:
        """Keep the plants going until ``stop`` is set."""
        while not stop.wait(TURN_S):
            now = self.now()
            try:
                self._arrive(now)
                self.sim.step_live(now)
            except AndonError as exc:  # e.g. a person decided the same task in the browser
                on_error(f"demo plant: {exc}")  # the next turn looks at the plants afresh

    def close(self) -> None:
        with suppress(Exception):
            self.sim.worker.close()
        self.app.close()

    def _arrive(self, now: datetime) -> None:
        """Schedule the next document when its time has come near."""
        while self._next_at <= now + timedelta(seconds=TURN_S):
            case = self._next_case()
            self.sim.add_cases([replace(case, arrives=self._next_at)])
            self._next_at += self._gap()

    def _welcome(self) -> None:
        """A Stuttgart NCR and requisition arrive at once, so that the demo logins find
        something in their inboxes within seconds."""
        self._refill()
        first: dict[str, Case] = {}
        for case in reversed(self._pool):
            if case.plant.code == STUTTGART:
                first.setdefault(case.template_id, case)
        now = self.clock.now()
        self._pool = [c for c in self._pool if c not in first.values()]
        self.sim.add_cases([replace(case, arrives=now) for case in first.values()])

    def _next_case(self) -> Case:
        if not self._pool:
            self._refill()
        return self._pool.pop()

    def _refill(self) -> None:
        """The next round of documents, each keyed apart from every earlier round's."""
        self._rounds += 1
        serial = existing_runs(self.app.service) + 500 * self._rounds
        fresh = generate(self.live.seed + self._rounds, frozenset(self.versions), serial)
        self._pool = [replace(c, key=f"live{self._rounds}/{c.key}") for c in reversed(fresh)]

    def _gap(self) -> timedelta:
        return timedelta(seconds=self._rng.expovariate(1.0 / self.live.pace_s))

    def _latest(self) -> datetime:
        with self.app.service.store.reader() as reader:
            latest = reader.conn.execute(select(func.max(s.run_events.c.at))).scalar()
        return datetime.fromtimestamp(float(latest or 0.0), UTC)


def held_for_logins(live_since: float) -> Callable[[TaskRow, datetime], bool]:
    """The rule that leaves the demo logins' tasks to them for ``HELD_S`` seconds."""
    theirs = {(role, site) for login in LOGINS for role, site in login.grants if site}

    def held(task: TaskRow, now: datetime) -> bool:
        if not any((role, task.plant) in theirs for role in task.roles):
            return False
        return now.timestamp() < max(task.created_at, live_since) + HELD_S

    return held


def provision_logins(app: App) -> None:
    """The demo's people with passwords (idempotent: an earlier demo may have made them)."""
    admin = app.actor()
    for login in LOGINS:
        with suppress(ConflictError):
            app.directory.create_user(admin, login.user, login.name, password=PASSWORD)
        for role, site in login.grants:
            app.directory.grant(admin, login.user, role, site)


def banner(url: str) -> list[str]:
    """What ``andon up --demo`` prints once it serves: where to look and who to be."""
    lines = [
        f"Andon is running with the demo plants live: open {url}/ui",
        "Sign in (tenant: default, password for everyone: " + PASSWORD + "):",
    ]
    lines.extend(f"  {login.user:<8} {login.name:<14} {login.does}" for login in LOGINS)
    lines.append(f"API: {url}/docs   metrics: {url}/metrics   Ctrl-C stops")
    return lines
