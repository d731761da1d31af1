"""Events delivered out of order (C2): an event that arrives after its run started but
before the run waits for it is kept and delivered when the wait begins, exactly once."""

from __future__ import annotations

from datetime import timedelta

from andon import bootstrap
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.testing import drain, publish, tenant_reader
from backends import rows

CYCLE = """
id: cycle
version: {version}
input: {{type: object, required: [lot], properties: {{lot: {{type: string}}}}}}
steps:
  - {{id: block, kind: action, action: erp.block, input: {{lot: input.lot}}}}
  - {{id: started, kind: wait, event: machine.started, key: input.lot{lookback}}}
  - {{id: finished, kind: wait, event: machine.finished, key: input.lot}}
  - {{id: done, kind: end, outcome: closed}}
"""
STOPS = """
id: stops
version: 1
triggers: [{event: machine.stopped, key: input.machine}]
input: {type: object, required: [machine], properties: {machine: {type: string}}}
steps:
  - {id: next_stop, kind: wait, event: machine.stopped, key: input.machine}
  - {id: done, kind: end, outcome: stopped_twice}
"""


def cycle(version: int = 1, lookback: str = "") -> str:
    return CYCLE.format(version=version, lookback=f", lookback: {lookback}" if lookback else "")


def publish_cycle(app: bootstrap.App, version: int = 1, lookback: str = "") -> None:
    if "erp.block" not in app.actions.names():  # publishing needs its action (ADR 0030)
        app.actions.register("erp.block", lambda call: {"blocked": True})
    publish(app.service, app.actor(), cycle(version, lookback))


def received(app: bootstrap.App, run_id: str) -> list[tuple[str, str]]:
    with tenant_reader(app) as reader:
        return [
            (str(row.body["step"]), str(row.body["event_id"]))
            for row in reader.journal(run_id)
            if row.type == "EventReceived"
        ]


def test_completion_before_start_is_correlated_when_each_wait_begins(
    app: bootstrap.App, clock: ManualClock
) -> None:
    admin = app.actor()
    publish_cycle(app)
    run_id = app.service.start_run(admin, StartRequest("cycle", {"lot": "L1"}))
    clock.advance(timedelta(seconds=1))
    # Both arrive while the run is still at its action, and in the wrong order.
    send = app.service.send_event
    assert send(admin, "machine.finished", "L1", {"n": 2}, event_id="fin").reached == 0
    assert send(admin, "machine.started", "L1", {"n": 1}, event_id="sta").reached == 0
    assert send(admin, "machine.started", "L1", {"n": 1}, event_id="sta").duplicate
    assert send(admin, "machine.started", "L2", {}, event_id="other-lot").reached == 0

    drain(app)

    run = app.service.run(admin, run_id)
    assert (run.status, run.outcome) == ("completed", "closed")
    assert received(app, run_id) == [("started", "sta"), ("finished", "fin")]
    matches = rows(app, "SELECT event_id, matched_runs FROM inbox ORDER BY event_id")
    assert matches == [("fin", 1), ("other-lot", 0), ("sta", 1)]


def test_a_wait_takes_an_early_event_once_even_when_it_waits_again(
    app: bootstrap.App, clock: ManualClock
) -> None:
    """The second wait for the same type and key does not take the first one's event."""
    admin = app.actor()
    publish(app.service, admin, STOPS)
    started = app.service.send_event(
        admin, "machine.stopped", "M1", {"machine": "M1"}, event_id="s1"
    )
    [run_id] = started.started
    assert app.service.run(admin, run_id).status == "running"  # its trigger is no answer
    clock.advance(timedelta(seconds=1))
    second = app.service.send_event(
        admin, "machine.stopped", "M1", {"machine": "M1"}, event_id="s2"
    )
    assert second.reached == 1 and len(second.started) == 1  # and it starts a run of its own
    assert app.service.run(admin, run_id).outcome == "stopped_twice"
    assert received(app, run_id) == [("next_stop", "s2")]


def test_events_from_before_the_run_started_need_a_lookback(
    app: bootstrap.App, clock: ManualClock
) -> None:
    admin = app.actor()
    publish_cycle(app)
    publish_cycle(app, 2, lookback="10m")
    app.service.send_event(admin, "machine.started", "L1", {}, event_id="before")
    clock.advance(timedelta(minutes=5))
    plain = app.service.start_run(admin, StartRequest("cycle", {"lot": "L1"}, version=1))
    looking = app.service.start_run(admin, StartRequest("cycle", {"lot": "L1"}, version=2))

    drain(app)

    assert received(app, plain) == []
    assert app.service.run(admin, plain).status == "running"
    assert received(app, looking) == [("started", "before")]
    clock.advance(timedelta(minutes=20))
    late = app.service.start_run(admin, StartRequest("cycle", {"lot": "L1"}, version=2))
    drain(app)
    assert received(app, late) == []  # ten minutes back is not twenty-five
