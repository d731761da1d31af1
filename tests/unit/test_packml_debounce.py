"""PackML states to machine.state_changed: the contract, the 120 s debounce, flapping, micro-stops."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from andon.contracts import catalogue
from andon.core.json import JsonValue
from andon.intake import InboundEvent, packml, sparkplug
from andon.intake.packml import EXECUTE, Debounce, Decision, Machine, Observation, Rules

HELD, HOLDING, ABORTED, UNHOLDING = 11, 10, 9, 12
T0 = datetime(2026, 11, 24, 9, 14, 3, 120_000, tzinfo=UTC)
CNC = Machine(
    "DE-STR/L01-EDGE/CNC-07",
    "CNC-07",
    "ACME.DE-STR.MACH.L01.CNC-07",
    "/connectors/sparkplug/DE-STR/L01-EDGE",
    "DE-STR",
)
RULES = Rules(stop_reasons={2101: "UNP-MECH"})


def dig(event: InboundEvent, *keys: str) -> JsonValue:
    """``event.data[k1][k2]…``, None where a key is missing."""
    value: JsonValue = event.data
    for key in keys:
        assert isinstance(value, dict), value
        value = value.get(key)
    return value


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def obs(at: float, code: int | None = None, *, seq: int = 0, **tags: int) -> Observation:
    values: dict[str, packml.Tag] = {} if code is None else {packml.STATE: code}
    names = {"reason": packml.STOP_REASON, "mode": packml.MODE, "processed": packml.PROCESSED}
    values |= {names[k]: v for k, v in tags.items()}
    return Observation(CNC, s(at), s(at), values, seq, sent_at=s(at))


def feed(*steps: Observation | float, state: Debounce | None = None) -> tuple[Debounce, Decision]:
    """Observations in order; a bare number is a due() tick at that second. Returns the final
    state and every event and micro-stop found on the way."""
    state = state or Debounce()
    events: list[InboundEvent] = []
    micro: list[packml.MicroStop] = []
    for step in steps:
        if isinstance(step, Observation):
            decision = packml.observe(state, RULES, step)
        else:
            decision = packml.due(state, RULES, s(step))
        state = decision.state
        events += decision.events
        micro += decision.micro_stops
    return state, Decision(state, tuple(events), tuple(micro))


def validate(data: JsonValue) -> None:
    jsonschema.validate(data, catalogue()["machine.state_changed"].schema)


def test_a_stop_of_121_s_is_reported_and_its_end_too() -> None:
    _, found = feed(
        obs(0, EXECUTE, mode=1, processed=1520),
        obs(1834, HELD, seq=42, reason=2101),
        1834 + 121,
        obs(2000, EXECUTE, seq=50, reason=0),
        2000 + 29,
        2000 + 30,
    )
    stop, resume = found.events
    assert stop.data == {
        "equipment": {"id": "CNC-07", "scope": "ACME.DE-STR.MACH.L01.CNC-07"},
        "state": {
            "model": "PackML",
            "current": "Held",
            "code": 11,
            "previous": "Execute",
            "previous_code": 6,
            "mode_code": 1,
        },
        "previous_state_duration_s": 1834.0,
        "stop_reason": {"id": 2101, "origin": "plc", "code": "UNP-MECH"},
        "counters": {"processed": 1520},
        "origin": {"protocol": "sparkplug", "seq": 42},
    }
    assert dig(resume, "state") == {
        "model": "PackML",
        "current": "Execute",
        "code": 6,
        "previous": "Held",
        "previous_code": 11,
        "mode_code": 1,
    }
    assert dig(resume, "previous_state_duration_s") == 166.0
    assert dig(resume, "stop_reason") is None
    for event in found.events:
        validate(event.data)
        assert (event.event_type, event.key, event.plant) == (
            "machine.state_changed",
            "CNC-07",
            "DE-STR",
        )
        assert uuid.UUID(event.event_id).version == 7
    assert stop.event_id != resume.event_id
    assert found.micro_stops == ()


def test_a_stop_of_119_s_is_a_micro_stop_without_an_event() -> None:
    state, found = feed(obs(0, EXECUTE), obs(10, HELD), obs(129, EXECUTE), 200)
    assert found.events == ()
    (small,) = found.micro_stops
    assert (small.started_at, small.duration, small.flaps) == (s(10), timedelta(seconds=119), 0)
    assert state.machines[CNC.key].micro_stops == 1


@pytest.mark.parametrize(("tick", "reported"), [(119.999, False), (120, False), (120.001, True)])
def test_the_stop_must_last_longer_than_min_stop(tick: float, reported: bool) -> None:
    _, found = feed(obs(0, HELD), tick)
    assert bool(found.events) is reported


def test_a_late_message_reports_an_overdue_stop_before_its_own_change() -> None:
    _, found = feed(obs(0, EXECUTE), obs(5, HELD), obs(126, EXECUTE), 200)
    assert [dig(e, "state", "current") for e in found.events] == ["Held", "Execute"]


def test_flapping_is_merged_into_one_stop() -> None:
    _, found = feed(
        obs(0, EXECUTE),
        obs(10, HELD),
        obs(60, EXECUTE),
        obs(70, HELD),  # back within merge_gap (30 s): the same stop
        obs(100, EXECUTE),
        obs(115, ABORTED),
        131,  # 121 s since the first stop
        obs(150, EXECUTE),
        170,
        obs(175, HELD),  # 25 s later: still the same stop, already reported
        obs(200, EXECUTE),
        230,
    )
    stop, resume = found.events
    assert dig(stop, "state", "current") == "Aborted"
    assert dig(resume, "previous_state_duration_s") == 190.0
    assert found.micro_stops == ()


def test_short_stops_apart_from_each_other_are_counted_one_by_one() -> None:
    _, found = feed(obs(0, HELD), obs(20, EXECUTE), obs(100, HELD), obs(150, EXECUTE), 400)
    assert found.events == () and len(found.micro_stops) == 2


def test_moves_between_stop_states_are_one_stop() -> None:
    _, found = feed(obs(0, EXECUTE), obs(10, HOLDING), obs(12, HELD), obs(60, UNHOLDING), 131)
    (stop,) = found.events
    assert dig(stop, "state", "current") == "Held"
    assert dig(stop, "state", "previous") == "Execute"


def test_the_same_facts_twice_give_the_same_event_ids() -> None:
    steps = (obs(0, EXECUTE), obs(10, HELD, reason=2101), 200, obs(300, EXECUTE), 400)
    _, first = feed(*steps)
    _, redelivered = feed(*steps[:2], obs(10, HELD, reason=2101), *steps[2:])
    _, fresh_host = feed(obs(10, HELD, reason=2101), 200, obs(300, EXECUTE), 400)  # rebirth
    ids = [e.event_id for e in first.events]
    assert (
        ids == [e.event_id for e in redelivered.events] == [e.event_id for e in fresh_host.events]
    )


def test_stale_data_freezes_the_debounce_until_the_next_birth() -> None:
    state, found = feed(obs(0, EXECUTE), obs(10, HELD))
    state = packml.mark_stale(state, (CNC.key,))
    state, found = feed(200, state=state)
    assert found.events == ()
    birth = Observation(
        CNC, s(10), s(210), {packml.STATE: HELD}, 1, sent_at=s(210)
    )  # Held since 10
    _, found = feed(birth, 210.5, state=state)
    (stop,) = found.events
    _, unfrozen = feed(obs(0, EXECUTE), obs(10, HELD), 200)
    assert stop.event_id == unfrozen.events[0].event_id


def test_due_uses_each_machine_clock() -> None:
    behind = timedelta(hours=1)  # the PLC's clock is an hour behind the host's
    held = Observation(CNC, s(0) - behind, s(0), {packml.STATE: HELD}, 1, sent_at=s(0) - behind)
    state, _ = feed(held)
    assert packml.due(state, RULES, s(119)).events == ()
    assert len(packml.due(state, RULES, s(121)).events) == 1


def test_a_stop_reason_ends_with_its_stop() -> None:
    _, found = feed(
        obs(0, HELD, reason=2101),
        obs(20, EXECUTE),
        obs(100, EXECUTE, reason=2101),
        obs(200, HELD),
        400,
    )
    assert dig(found.events[0], "state", "current") == "Held"
    assert dig(found.events[0], "stop_reason") is None


def test_unknown_reason_ids_keep_the_id_without_a_code() -> None:
    _, found = feed(obs(0, HELD, reason=4711), 121)
    assert dig(found.events[0], "stop_reason") == {"id": 4711, "origin": "plc"}


def test_from_sparkplug_takes_the_state_metric_time() -> None:
    ms = packml.to_millis(T0)
    update = sparkplug.Update(
        sparkplug.Topic("DE-STR", sparkplug.MessageType.DDATA, "L01-EDGE", "CNC-07"),
        False,
        (
            sparkplug.Metric(packml.STATE, HELD, 3, 1, ms - 500),
            sparkplug.Metric("Other/Tag", 1, 3, 9, ms),
        ),
        ms,
        7,
        0,
    )
    found = packml.from_sparkplug(update, CNC, s(2))
    assert found == Observation(CNC, s(-0.5), s(2), {packml.STATE: HELD}, 7, sent_at=T0)
    node = sparkplug.Update(
        sparkplug.Topic("DE-STR", sparkplug.MessageType.NDATA, "L01-EDGE"), False, (), ms, 8, 0
    )
    assert packml.from_sparkplug(node, CNC, s(2)) is None


def test_event_ids_are_uuid7_and_time_ordered() -> None:
    first, second = packml.event_id("a", s(0)), packml.event_id("a", s(0.001))
    assert uuid.UUID(first).version == 7 and uuid.UUID(first).variant == uuid.RFC_4122
    assert first < second and first == packml.event_id("a", s(0)) != packml.event_id("b", s(0))
