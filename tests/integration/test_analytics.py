"""The dashboard queries on a small store made by the real runtime, SQLite and PostgreSQL.

Four runs of one template, on a manual clock, so every expected number below is worked
out by hand from the times the script sets (T0 = Monday 2026-11-02 06:00 UTC):

- R1, DE-STR, starts T0: QE approves at +1 h, PS at +1 h 30 (task closed), the supplier
  answers at +5 h 30 (wait of 4 h); completed, cycle 5.5 h.
- R2, US-GRR, starts +1 h: the task is due at +3 h (SLA breach) and escalated at +4 h;
  QE approves at +5 h, PS at +6 h (task of 5 h); the wait times out a day later at +30 h
  (SLA breach, wait of 24 h) and the run ends; cycle 29 h.
- R3, DE-STR, starts +2 h: its action fails at once (failure, incident); still parked.
- R4, DE-STR, starts +26 h: QE approves at +26 h 30, PS rejects at +27 h (task of 1 h);
  completed (rejected), cycle 1 h.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from andon import analytics, bootstrap
from andon.actions.registry import ActionCall
from andon.analytics import Analytics, Histogram, IncidentRow, LatencyRow, StepRow, Window
from andon.core.json import JsonValue
from andon.errors import ActionError, GovernanceError, InputError
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.store import schema
from andon.store.transaction import SqlReader
from andon.testing import T0, person, publish, tenant_reader

FLOW = """
id: flow
version: 1
roles: [QE, PS, QAM]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: check, kind: action, action: qms.check, input: {lot: input.lot}, retry: {max_attempts: 1}}
  - id: review
    kind: approval
    roles: [QE, PS]
    quorum: all
    due_in: 2h
    escalate: [{after: 3h, to: QAM}]
    outcomes: {approve: answer, reject: rejected}
  - {id: answer, kind: wait, event: supplier.answered, key: input.lot, timeout: 1d, on_timeout: done}
  - {id: done, kind: end, outcome: closed}
  - {id: rejected, kind: end, outcome: rejected}
"""
H = 3600.0
START = T0.timestamp()
DAY_1 = 1_793_577_600.0  # 2026-11-02 00:00 UTC
DAY_2 = DAY_1 + 86_400.0


@dataclass(frozen=True)
class Store:
    app: bootstrap.App
    runs: dict[str, str]

    def read(self, query: Callable[[SqlReader], object]) -> object:
        with tenant_reader(self.app) as reader:
            return query(reader)


@pytest.fixture
def store(app: bootstrap.App, clock: ManualClock) -> Store:
    def check(call: ActionCall) -> JsonValue:
        if str(call.input["lot"]).startswith("BAD"):
            raise ActionError("QMS: lot unknown")
        return {"checked": True}

    app.actions.register("qms.check", check)
    publish(app.service, app.actor(), FLOW, "flow.yaml")
    qe, ps = person(app, "u-qe", "QE"), person(app, "u-ps", "PS")
    runs: dict[str, str] = {}

    def at(hours: float) -> None:
        clock.set(T0 + timedelta(hours=hours))
        worker = app.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass

    def start(name: str, lot: str, plant: str) -> None:
        runs[name] = app.service.start_run(app.actor(), StartRequest("flow", {"lot": lot}, plant))

    def decide(who: Actor, name: str, outcome: str = "approve") -> None:
        with tenant_reader(app) as reader:
            (task,) = [t for t in reader.tasks("open", None, 50) if t.run_id == runs[name]]
        role = "QE" if who is qe else "PS"
        app.service.decide_task(who, TaskDecision(task.task_id, outcome, role=role))

    def answer(lot: str) -> None:
        app.service.send_event(app.actor(), "supplier.answered", lot, {}, event_id=lot)

    start("R1", "L1", "DE-STR")
    at(0)
    at(1)
    decide(qe, "R1")
    start("R2", "L2", "US-GRR")
    at(1)
    at(1.5)
    decide(ps, "R1")
    at(2)
    start("R3", "BAD-3", "DE-STR")
    at(2)
    at(3)  # R2's task is due
    at(4)  # and escalated
    at(5)
    decide(qe, "R2")
    at(5.5)
    answer("L1")
    at(6)
    decide(ps, "R2")
    at(26)
    start("R4", "L4", "DE-STR")
    at(26)
    at(26.5)
    decide(qe, "R4")
    at(27)
    decide(ps, "R4", "reject")
    at(30)  # R2's wait times out
    at(40)
    return Store(app, runs)


def test_cycle_times_bucket_the_completed_runs_in_hours(store: Store) -> None:
    found = store.read(lambda r: analytics.cycle_times(r, Window()))
    assert found == Histogram(
        bounds=analytics.queries.BOUNDS_H,
        counts=(1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0),
        total=3,
        p50=5.5,
        p90=pytest.approx(5.5 + 0.8 * (29 - 5.5)),
    )
    late = store.read(lambda r: analytics.cycle_times(r, Window(since=START + 24 * H)))
    assert isinstance(late, Histogram) and (late.total, late.p50) == (2, 15.0)
    one = store.read(lambda r: analytics.cycle_times(r, Window(plant="US-GRR")))
    assert isinstance(one, Histogram) and (one.total, one.p50, one.p90) == (1, 29.0, 29.0)


def test_cycle_times_of_nothing_are_empty(store: Store) -> None:
    found = store.read(lambda r: analytics.cycle_times(r, Window(until=START)))
    assert found == Histogram(analytics.queries.BOUNDS_H, (0,) * 11, 0, None, None)


def test_approval_latency_per_candidate_role_and_plant(store: Store) -> None:
    de = (2, 4500.0, pytest.approx(3600 + 0.9 * 1800))
    us = (1, 5 * H, 5 * H)
    assert store.read(lambda r: analytics.approval_latency(r, Window())) == [
        LatencyRow("PS", "DE-STR", *de),
        LatencyRow("PS", "US-GRR", *us),
        LatencyRow("QE", "DE-STR", *de),
        LatencyRow("QE", "US-GRR", *us),
    ]
    assert store.read(
        lambda r: analytics.approval_latency(r, Window(since=START + 24 * H, plant="DE-STR"))
    ) == [LatencyRow("PS", "DE-STR", 1, H, H), LatencyRow("QE", "DE-STR", 1, H, H)]
    assert store.read(lambda r: analytics.approval_latency(r, Window(template_id="other"))) == []


def test_bottleneck_steps_rank_waiting_steps_by_total_time(store: Store) -> None:
    assert store.read(lambda r: analytics.bottleneck_steps(r, Window())) == [
        StepRow("flow", "answer", 2, (4 * H + 24 * H) / 2, pytest.approx(4 * H + 0.9 * 20 * H)),
        StepRow("flow", "review", 3, 2.5 * H, pytest.approx(1.5 * H + 0.8 * 3.5 * H)),
    ]
    assert store.read(lambda r: analytics.bottleneck_steps(r, Window(plant="US-GRR"))) == [
        StepRow("flow", "answer", 1, 24 * H, 24 * H),
        StepRow("flow", "review", 1, 5 * H, 5 * H),
    ]
    assert store.read(lambda r: analytics.bottleneck_steps(r, Window(), limit=1)) == [
        StepRow("flow", "answer", 2, 14 * H, pytest.approx(4 * H + 0.9 * 20 * H))
    ]


def test_trends_count_each_signal_in_its_day(store: Store) -> None:
    rows = store.read(lambda r: analytics.trends(r, Window()))
    assert rows == [
        analytics.TrendRow(DAY_1, 3, 1, 1, 1, 1, 1),
        analytics.TrendRow(DAY_2, 1, 2, 1, 0, 0, 0),
    ]
    weekly = store.read(lambda r: analytics.trends(r, Window(plant="US-GRR"), 7 * 86_400))
    assert weekly == [analytics.TrendRow(DAY_1, 1, 1, 2, 1, 0, 0)]  # a Monday
    padded = store.read(
        lambda r: analytics.trends(r, Window(since=DAY_1 - 86_400, until=DAY_2 + 2 * 86_400))
    )
    assert isinstance(padded, list) and [row.started for row in padded] == [0, 3, 1, 0]
    with pytest.raises(InputError):
        store.read(lambda r: analytics.trends(r, Window(), bucket_s=1))


def test_open_incidents_name_the_step_and_the_error(store: Store) -> None:
    expected = IncidentRow(store.runs["R3"], "flow", "DE-STR", "check", START + 2 * H,
                           "QMS: lot unknown")  # fmt: skip
    assert store.read(lambda r: analytics.open_incidents(r, Window())) == [expected]
    assert store.read(lambda r: analytics.open_incidents(r, Window(since=START + 3 * H))) == []
    assert store.read(lambda r: analytics.open_incidents(r, Window(plant="US-GRR"))) == []


def test_another_tenant_sees_nothing(store: Store) -> None:
    with store.app.service.store.reader() as reader:
        other = reader.scoped("acme-b")
        assert analytics.cycle_times(other, Window()).total == 0
        assert analytics.approval_latency(other, Window()) == []
        assert analytics.bottleneck_steps(other, Window()) == []
        assert analytics.trends(other, Window()) == []
        assert analytics.open_incidents(other, Window()) == []


def test_the_service_shows_an_actor_only_the_sites_it_may_read(store: Store) -> None:
    dashboards = Analytics(store.app.service.store)
    local = person(store.app, "u-de", "QE@DE-STR")
    assert dashboards.cycle_times(local, Window()).total == 2
    assert {row.plant for row in dashboards.approval_latency(local, Window())} == {"DE-STR"}
    assert [row.count for row in dashboards.bottleneck_steps(local, Window())] == [1, 2]
    assert [row.started for row in dashboards.trends(local, Window())] == [2, 1]
    assert len(dashboards.open_incidents(local, Window())) == 1
    with pytest.raises(GovernanceError):
        dashboards.cycle_times(local, Window(plant="US-GRR"))
    nobody = person(store.app, "u-none")
    with pytest.raises(GovernanceError):
        dashboards.trends(nobody, Window())
    everyone = store.app.actor()
    assert dashboards.cycle_times(everyone, Window()).total == 3


WAIT_ONLY = """
id: wait-only
version: 1
roles: [QE]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: answered, kind: wait, event: supplier.answered, key: input.lot}
  - {id: done, kind: end, outcome: closed}
"""


def test_a_wait_whose_trace_is_too_long_for_an_index_row_still_counts(
    app: bootstrap.App, clock: ManualClock
) -> None:
    """A PostgreSQL index row holds traces up to 2000 bytes; a wait ended by an event with a
    3000-character key has a longer one and is found through the other index."""
    publish(app.service, app.actor(), WAIT_ONLY, "wait-only.yaml")
    long_lot, short_lot = "L" * 3000, "L-1"
    for lot in (long_lot, short_lot):
        app.service.start_run(app.actor(), StartRequest("wait-only", {"lot": lot}, "DE-STR"))
    for hours, lot in ((1, long_lot), (3, short_lot)):
        clock.set(T0 + timedelta(hours=hours))
        app.service.send_event(app.actor(), "supplier.answered", lot, {}, event_id=lot[:40])
        worker = app.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass
    with tenant_reader(app) as reader:
        rows = analytics.bottleneck_steps(reader, Window())
        by_plant = analytics.bottleneck_steps(reader, Window(plant="DE-STR"))
        e = schema.run_events
        traces = reader.conn.execute(
            select(func.max(func.length(e.c.trace))).where(schema.wait_ended(e))
        ).scalar()
    assert traces > 2000
    assert rows == by_plant == [StepRow("wait-only", "answered", 2, 2 * H, pytest.approx(2.8 * H))]
