"""Dry run before promotion (ADR 0033), on both backends: 200 recorded purchase requests
replayed against a version with a lower approval threshold report exactly the requests it
routes elsewhere, with both paths and decisions; the steps are answered from the real runs
(no action skipped), the version in force is judged per plant, and nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.dry_run import DryRunReport
from andon.core.json import JsonValue
from andon.errors import GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.runtime.clock import ManualClock
from andon.runtime.facts import triggered_run_id
from andon.runtime.service import TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.testing import T0, accept_any, person, publish, tenant_reader

SPEND = """
id: spend
version: {version}
roles: [BUY, MGR, DIR]
parameters:
  l2_limit: {{type: number, default: 1000}}
input:
  type: object
  required: [po, amount]
  properties: {{po: {{type: string}}, amount: {{type: number}}}}
triggers: [{{event: purchase.requested, key: input.po, when: "input.amount > 0"}}]
steps:
  - {{id: budget, kind: action, action: test.budget, input: {{po: input.po}}}}
  - id: level
    kind: decide
    rules:
      - {{id: l1, when: "steps.budget.output.cleared", then: {{level: 1}}, next: approve_l1}}
      - {{id: l2, when: "input.amount <= {l2}", then: {{level: 2}}, next: approve_l2}}
      - {{id: l3, when: "true", then: {{level: 3}}, next: approve_l3}}
  - {{id: approve_l1, kind: approval, roles: [BUY], next: done}}
  - {{id: approve_l2, kind: approval, roles: [MGR], next: done}}
  - {{id: approve_l3, kind: approval, roles: [DIR], next: done}}
  - {{id: done, kind: end, outcome: approved}}
"""
EVENTS = 200
DECIDED = 40
"""The first requests' approvals were given: their real runs completed."""


def request(i: int) -> tuple[str, float, str]:
    """(po, amount, plant) of the i-th request; the first has amount 0 (no trigger takes it)."""
    return f"PO-{i:03d}", float(i * 37 % 1500), "P2" if i % 2 else "P1"


def cleared(po: str) -> bool:
    """What only the budget system knows: the real runs' recorded output carries it."""
    return int(po[3:]) % 10 == 3


def routed_elsewhere(i: int) -> bool:
    """v1 sends amounts up to the plant's limit (P2's overlay: 800) to L2; v2 only to 600."""
    po, amount, plant = request(i)
    return amount > 0 and not cleared(po) and 600 < amount <= (800 if plant == "P2" else 1000)


def budget(call: ActionCall) -> JsonValue:
    return {"cleared": cleared(str(call.input["po"]))}


@pytest.fixture
def recorded(app: bootstrap.App, clock: ManualClock) -> bootstrap.App:
    """v1 in force everywhere; 200 requests taken in, their budget checked by the worker
    and the first approvals given; v2 (L2 up to 600) published, in force at dev only."""
    admin = app.actor()
    app.actions.register("test.budget", budget)
    for plant in ("P1", "P2"):
        app.directory.create_site(admin, plant, plant)
    publish(app.service, admin, SPEND.format(version=1, l2="params.l2_limit"))
    app.service.publish_overlay(admin, "template: spend\nplant: P2\nparameters: {l2_limit: 800}\n")
    ungoverned = ["dev", "test", "production"]  # promotions here need no approval run
    app.lifecycle.set_stages(admin, ungoverned, governed=[])
    for stage in ("test", "production"):
        app.lifecycle.put_in_force(admin, "spend", 1, stage)
    accept_any(app.service, admin, "machine.stopped")
    for i in range(EVENTS):
        po, amount, plant = request(i)
        clock.set(T0 + timedelta(minutes=i))
        app.service.send_event(admin, "purchase.requested", po, {"po": po, "amount": amount},
                               event_id=po, plant=plant)  # fmt: skip
        if i % 40 == 0:  # not a trigger type of either version: never considered
            app.service.send_event(admin, "machine.stopped", "M1", {}, event_id=f"m{i}")
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    boss = person(app, "mia", "BUY", "MGR", "DIR")
    first = {triggered_run_id("default", "cli", request(i)[0], "spend") for i in range(DECIDED)}
    with tenant_reader(app) as reader:
        tasks = [t for t in reader.tasks("open", None, 1000) if t.run_id in first]
    for task in tasks:
        app.service.decide_task(boss, TaskDecision(task.task_id))
    publish(app.service, admin, SPEND.format(version=2, l2="600"))
    return app


def written(app: bootstrap.App) -> object:
    with tenant_reader(app) as reader:
        return (
            reader.count_runs_by_status(), reader.fact_count(), reader.outbox_depth(),
            len(reader.admin_log()), len(reader.tasks(None, None, 10_000)),
        )  # fmt: skip


def differing(report: DryRunReport) -> set[str]:
    return {e.event.event_id for e in report.events if e.differs}


def test_the_requests_a_lower_threshold_routes_elsewhere_are_reported(
    recorded: bootstrap.App,
) -> None:
    app = recorded
    before = written(app)
    report = app.dry_runs.run(app.actor(), "spend", 2)
    assert written(app) == before, "a dry run writes nothing"

    assert (report.considered, report.taken, report.truncated) == (EVENTS, EVENTS - 1, False)
    assert report.event_types == ("purchase.requested",)
    assert report.skipped_actions == 0, "every budget check is answered from its real run"
    expected = {request(i)[0] for i in range(EVENTS) if routed_elsewhere(i)}
    assert len(expected) > 20 and differing(report) == expected
    same = next(e for e in report.events if not e.differs and e.baseline.path[-1] == "done")
    assert same.candidate.path == same.baseline.path

    by_id = {e.event.event_id: e for e in report.events}
    decided = next(
        by_id[request(i)[0]]
        for i in range(EVENTS)
        if routed_elsewhere(i) and by_id[request(i)[0]].baseline.stop.halt.value == "completed"
    )
    assert decided.recorded_run is not None
    assert (decided.baseline.ref, decided.candidate.ref) == ("spend@1", "spend@2")
    assert decided.baseline.path == ("budget", "level", "approve_l2", "done")
    assert decided.candidate.path == ("budget", "level", "approve_l3")
    assert [(d.step, d.matched) for d in decided.candidate.decisions] == [("level", ("l3",))]
    assert decided.differences == (
        "path: after level, v1 goes approve_l2, v2 goes approve_l3",
        "decision level: l2 -> l3",
        "end: v1 completed (approved), v2 waits at approve_l3",
    )
    summary = report.to_json()
    assert (summary["taken"], summary["differing"]) == (EVENTS - 1, len(expected))
    assert isinstance(summary["differing_events"], list)
    assert len(summary["differing_events"]) == 20 and "events" not in summary
    assert len(report.events_json()) == EVENTS - 1


def test_the_version_in_force_is_judged_per_plant_and_windows_and_plants_narrow_it(
    recorded: bootstrap.App,
) -> None:
    app, admin = recorded, recorded.actor()
    for stage in ("test", "production"):
        app.lifecycle.put_in_force(admin, "spend", 2, stage, ["P1"])
    report = app.dry_runs.run(admin, "spend", 2)
    p2 = {request(i)[0] for i in range(EVENTS) if routed_elsewhere(i) and request(i)[2] == "P2"}
    assert differing(report) == p2, "P1 runs v2 already: nothing differs there"

    first = app.dry_runs.run(admin, "spend", 2, since=T0, until=T0 + timedelta(minutes=50))
    assert (first.considered, first.last) == (50, 5000)
    newest = app.dry_runs.run(admin, "spend", 2, last=10, plant="P2")
    assert (newest.considered, newest.truncated) == (10, True)
    assert {e.event.plant for e in newest.events} == {"P2"}
    assert [e.event.event_id for e in newest.events] == [f"PO-{i}" for i in range(181, 200, 2)]


def test_bad_requests_are_refused_with_what_is_wrong(recorded: bootstrap.App) -> None:
    app, admin = recorded, recorded.actor()
    dry = app.dry_runs
    for last in (0, 5001):
        with pytest.raises(InputError, match=f"last must be between 1 and 5000 events, not {last}"):
            dry.run(admin, "spend", 2, last=last)
    with pytest.raises(InputError, match="must be after its start"):
        dry.run(admin, "spend", 2, since=T0, until=T0)
    with pytest.raises(InputError, match="UTC offset"):
        dry.run(admin, "spend", 2, since=T0.replace(tzinfo=None), until=T0)
    with pytest.raises(NotFoundError, match="no published template 'spend@9'"):
        dry.run(admin, "spend", 9)
    buyer = person(app, "bo", "BUY")
    with pytest.raises(GovernanceError, match=r"template\.promote"):
        dry.run(buyer, "spend", 2)
    pilot = person(app, "pia", f"{authz.PROCESS_OWNER}@P1")
    assert dry.run(pilot, "spend", 2, plant="P1").considered == EVENTS // 2
    with pytest.raises(GovernanceError):
        dry.run(pilot, "spend", 2)
