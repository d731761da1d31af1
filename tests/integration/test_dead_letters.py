"""Dead letters and replay: an event that cannot be taken in is kept with its reason, and
taken in exactly once when an operator replays it after fixing the cause."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from andon import bootstrap
from andon.errors import ConflictError, ContractViolation, GovernanceError, InputError
from andon.intake import InboundEvent
from andon.runtime.clock import ManualClock
from andon.testing import person, publish, tenant_reader

PRESS = """
id: press-stop
version: 1
input:
  type: object
  required: [press, minutes]
  properties: {press: {type: string}, minutes: {type: integer}}
triggers: [{event: press.stopped, key: input.press}]
steps:
  - {id: done, kind: end, outcome: logged}
"""
STOPPED = {
    "type": "object",
    "required": ["press", "minutes"],
    "properties": {"press": {"type": "string"}, "minutes": {"type": "integer"}},
}


def stop(event_id: str, data: dict[str, object], event_type: str = "press.stopped") -> InboundEvent:
    return InboundEvent(event_type, "P-7", data, "edge-7", event_id)


def inbox_ids(app: bootstrap.App) -> list[str]:
    with tenant_reader(app) as reader:
        found = reader.conn.exec_driver_sql("SELECT event_id FROM inbox ORDER BY event_id")
        return [r[0] for r in found]


def test_an_unregistered_type_is_kept_and_taken_once_after_the_fix(app: bootstrap.App) -> None:
    admin = app.actor()
    event = stop("m-1", {"press": "P-7", "minutes": 12})
    first = app.service.take_event(admin, "mqtt:line-1", event)
    again = app.service.take_event(admin, "mqtt:line-1", event)  # the broker redelivers
    assert first.dead_letter and first.dead_letter == again.dead_letter
    (letter,) = app.service.dead_letters(admin)
    assert letter.stage == "contract" and letter.deliveries == 2
    assert "no contract is registered for event type 'press.stopped'" in letter.reason
    assert inbox_ids(app) == [], "nothing was half taken in"

    app.service.register_contract(admin, "press.stopped", STOPPED)
    publish(app.service, admin, PRESS)
    replayed = app.service.replay_dead_letter(admin, letter.letter_id)
    assert len(replayed.started) == 1, "the trigger started the run it would have"
    assert inbox_ids(app) == ["m-1"]
    assert app.service.dead_letters(admin) == []
    closed = app.service.dead_letter(admin, letter.letter_id)
    assert (closed.resolution, closed.resolved_by) == ("replayed", "admin")
    with pytest.raises(ConflictError, match="replayed already"):
        app.service.replay_dead_letter(admin, letter.letter_id)
    late = app.service.take_event(admin, "mqtt:line-1", event)  # one more redelivery
    assert late.duplicate and late.dead_letter is None
    with tenant_reader(app) as reader:
        entries = [(e.action, e.subject) for e in reader.admin_log()]
    assert ("dead_letter.replayed", letter.letter_id) in entries


def test_data_breaking_the_contract_names_the_field_and_stays_until_fixed(
    app: bootstrap.App,
) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "press.stopped", STOPPED)
    publish(app.service, admin, PRESS)
    with pytest.raises(ContractViolation) as refused:  # the API's caller is told at once
        app.service.send_event(admin, "press.stopped", "P-7", {"press": "P-7", "minutes": "12"})
    assert "press.stopped does not match contract v1: data.minutes:" in str(refused.value)
    taken = app.service.take_event(admin, "nats:in", stop("m-2", {"press": "P-7"}))
    assert taken.dead_letter is not None
    letter = app.service.dead_letter(admin, taken.dead_letter)
    assert 'data: "minutes" is a required property' in letter.reason
    assert letter.event is not None and letter.event["id"] == "m-2"
    with pytest.raises(ContractViolation):
        app.service.replay_dead_letter(admin, letter.letter_id)
    assert app.service.dead_letter(admin, letter.letter_id).resolved_at is None
    assert inbox_ids(app) == []


def test_a_payload_that_never_mapped_is_mapped_again_on_replay(app: bootstrap.App) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "press.stopped", STOPPED)
    raw = '{"press": "P-7", "minutes": 3, "id": "m-3"}'
    kept = app.service.keep_dead_letter(admin, "plc:press", "mapping", "no 'type'", raw)
    with pytest.raises(ConflictError, match="cannot map a kept payload again; discard it"):
        app.service.replay_dead_letter(admin, kept)

    def fixed_mapping(tenant: str, channel: str, payload: str) -> InboundEvent:
        assert (tenant, channel) == ("default", "plc:press")
        body = json.loads(payload)
        return stop(body.pop("id"), body)

    app.service.remappers["plc"] = fixed_mapping
    assert app.service.replay_dead_letter(admin, kept).duplicate is False
    assert inbox_ids(app) == ["m-3"]


def test_discarding_needs_a_reason_and_is_audited(app: bootstrap.App) -> None:
    admin = app.actor()
    kept = app.service.keep_dead_letter(admin, "mqtt:line-1", "mapping", "test message", "hello")
    with pytest.raises(InputError, match="say why"):
        app.service.discard_dead_letter(admin, kept, " ")
    app.service.discard_dead_letter(admin, kept, "commissioning test from the integrator")
    assert app.service.dead_letters(admin) == []
    assert [d.resolution for d in app.service.dead_letters(admin, open_only=False)] == ["discarded"]
    with tenant_reader(app) as reader:
        assert ("dead_letter.discarded", kept) in [
            (e.action, e.subject) for e in reader.admin_log()
        ]


def test_dead_letters_are_for_operators(app: bootstrap.App) -> None:
    qe = person(app, "anna", "QE")
    operator = person(app, "olaf", "operator")
    kept = app.service.keep_dead_letter(app.actor(), "mqtt:line-1", "mapping", "bad", "x")
    with pytest.raises(GovernanceError):
        app.service.dead_letters(qe)
    with pytest.raises(GovernanceError):
        app.service.discard_dead_letter(qe, kept, "not my job")
    assert [d.letter_id for d in app.service.dead_letters(operator)] == [kept]


def test_a_window_of_the_inbox_replays_into_a_new_version_once(
    app: bootstrap.App, clock: ManualClock
) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "press.stopped", STOPPED)
    publish(app.service, admin, PRESS)
    start = clock.now()
    for n in range(3):
        app.service.send_event(admin, "press.stopped", f"P-{n}", {"press": f"P-{n}", "minutes": n},
                               source="edge-7", event_id=f"s-{n}")  # fmt: skip
        clock.advance(timedelta(minutes=10))
    publish(
        app.service, admin, PRESS.replace("version: 1", "version: 2").replace("logged", "logged_v2")
    )
    window = (start + timedelta(minutes=5), start + timedelta(minutes=25))
    replayed = app.service.replay_inbox(admin, "press-stop", 2, *window)
    assert (replayed.template, replayed.events, len(replayed.started)) == ("press-stop@2", 2, 2)
    runs = [app.service.run(admin, run_id) for run_id in replayed.started]
    assert {(r.template_version, r.started_by) for r in runs} == {(2, "replay:edge-7")}
    inputs = sorted(r.state["input"]["press"] for r in runs)  # type: ignore[index]
    assert inputs == ["P-1", "P-2"], "the event before the window was left alone"
    again = app.service.replay_inbox(admin, "press-stop", 2, *window)
    assert (again.started, again.already) == ((), 2)
    with tenant_reader(app) as reader:
        audited = [e for e in reader.admin_log() if e.action == "inbox.replayed"]
    assert len(audited) == 2 and audited[0].subject == "press-stop@2"
