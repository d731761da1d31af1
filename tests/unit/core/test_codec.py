"""Runs, facts and commands survive JSON unchanged; snapshots stay small and versioned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from scenario import T0, drive, reencode, started, supplier_ncr, template

from andon.core import codec
from andon.core.commands import (
    AwaitEvent,
    CancelTimer,
    CloseTask,
    Command,
    CompleteRun,
    EscalateTask,
    OpenTask,
    RunAction,
    StartTimer,
    StopAwaiting,
)
from andon.core.events import (
    EVENT_TYPES,
    Event,
    EventReceived,
    IncidentRetried,
    PolicyViolated,
    RunCancelled,
    RunMigrated,
    RunStarted,
    StepFailed,
    StepSucceeded,
    TaskClaimed,
    TaskCompleted,
    TaskReleased,
    TimerFired,
)
from andon.core.json import JsonObject
from andon.core.run import Run, RunStatus, StepState, StepStatus
from andon.core.template import Template
from andon.errors import InputError

EVENTS: list[Event] = [
    RunStarted("ncr", 3, "sha256:ab", "DE-STR", {"lot": "L-1", "qty": 2.0}, {"sla": "3d"}, "ana"),
    RunMigrated(3, 4, {"review": "check"}, "ana"),
    StepSucceeded("weigh", 2, {"kg": 12.5, "ok": True, "tags": ["a", None]}),
    StepFailed("weigh", 1, "offline", permanent=True, timed_out=True, draw=0.25),
    TaskCompleted("mrb", "r1:mrb:1", "alice", "approve", "QE", "looks fine"),
    EventReceived("await", "lab.result_posted", "LAB-1", {"hardness": 58}, "ev-1"),
    TimerFired("retry:weigh:1"),
    RunCancelled("wrong part", "ops"),
    IncidentRetried("ops", "rebooted"),
    TaskCompleted(
        "release",
        "r1:release:1",
        "qa1",
        "approve",
        "QA",
        "",
        "qa2",
        {"meaning": "release", "name": "QA ONE", "digest": "ab" * 32},
    ),
    TaskClaimed("mrb", "r1:mrb:1", "bob", "PS", "carol"),
    TaskReleased("mrb", "r1:mrb:1", "bob"),
    PolicyViolated("mrb", "r1:mrb:1", "ana", "decide", "initiator-cannot-approve", "no"),
]

COMMANDS: list[Command] = [
    RunAction("weigh", "scale.weigh", {"lot": "L-1"}, 2, "r1:weigh:2", timedelta(seconds=30)),
    RunAction("ship", "wms.ship", {}, 1, "r1:ship:1"),
    OpenTask("mrb", "r1:mrb:1", "MRB", ("QE", "PS"), "all", T0 + timedelta(days=3), {"a": 1}),
    EscalateTask("mrb", "r1:mrb:1", "QAM", 1),
    CloseTask("r1:mrb:1", "approve"),
    StartTimer("timeout:mrb:1", T0 + timedelta(days=3)),
    CancelTimer("timeout:mrb:1"),
    AwaitEvent("await", "lab.result_posted", "LAB-1", T0 + timedelta(hours=4)),
    AwaitEvent("await", "lab.result_posted", "LAB-1"),
    StopAwaiting("await"),
    CompleteRun("completed", "closed"),
]


def through_json(data: JsonObject) -> JsonObject:
    loaded = json.loads(json.dumps(data))
    assert isinstance(loaded, dict)
    return loaded


def test_every_event_type_is_covered() -> None:
    assert {type(e).__name__ for e in EVENTS} == set(EVENT_TYPES)
    assert {type(c).__name__ for c in COMMANDS} == set(codec.COMMAND_TYPES)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_roundtrip_through_json(event: Event) -> None:
    data = through_json(codec.event_to_dict(event))

    assert data["type"] == type(event).__name__
    assert codec.event_from_dict(data) == event


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_commands_roundtrip_through_json(command: Command) -> None:
    data = through_json(codec.command_to_dict(command))

    assert codec.command_from_dict(data) == command


def test_times_are_iso_strings_and_durations_are_seconds() -> None:
    action = codec.command_to_dict(COMMANDS[0])
    task = codec.command_to_dict(COMMANDS[2])

    assert action["timeout"] == 30.0
    assert task["due_at"] == "2025-03-06T08:00:00+00:00"
    assert task["roles"] == ["QE", "PS"]


def test_a_non_utc_offset_survives() -> None:
    cet = datetime(2025, 3, 3, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    timer = StartTimer("timer:cool:1", cet)

    back = codec.command_from_dict(through_json(codec.command_to_dict(timer)))

    assert back == timer
    assert isinstance(back, StartTimer)
    assert back.due_at.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "StepExploded", "step": "a"}, "unknown event type 'StepExploded'"),
        ({"step": "a"}, "unknown event type None"),
        ({"type": "TimerFired", "key": "k", "colour": "red"}, "TimerFired has no field 'colour'"),
    ],
)
def test_unknown_event_types_and_fields_are_input_errors(data: JsonObject, message: str) -> None:
    with pytest.raises(InputError, match=message):
        codec.event_from_dict(data)


def test_unknown_command_types_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown command type 'Explode'"):
        codec.command_from_dict({"type": "Explode"})


# ---- runs ----------------------------------------------------------------------------------

PARALLEL = """
    id: parallel-codec
    version: 1
    steps:
      - id: fork
        kind: parallel
        branches: [weigh, pack]
        join: merge
      - id: weigh
        kind: action
        action: scale.weigh
        next: merge
      - id: pack
        kind: action
        action: wms.pack
        next: merge
      - id: merge
        kind: join
"""


def test_a_run_in_mid_flight_roundtrips() -> None:
    t = template(PARALLEL)
    run = drive(t, [started(t), StepSucceeded("pack", 1, {"box": 3})]).run
    run = drive(t, [StepFailed("weigh", 1, "offline")], run=run).run

    back = reencode(run)

    assert back == run
    assert back.joins == {"merge": 1}
    assert back.active == ("weigh",)
    assert back.step("weigh").status is StepStatus.RETRYING
    assert back.step("merge").status is StepStatus.WAITING
    assert isinstance(back.status, RunStatus)
    assert back.started_at == T0


def test_a_finished_supplier_ncr_roundtrips() -> None:
    t = supplier_ncr()
    data: JsonObject = {
        "ncr_id": "NCR-1",
        "part": "P",
        "lot": "L",
        "supplier": "S",
        "qty_rejected": 1,
        "value": {"amount": 100.0, "currency": "EUR"},
        "disposition": "rtv",
        "severity": "m",
        "defect_code": "D",
    }
    facts: list[Event] = [
        started(t, data),
        StepSucceeded("record", 1),
        StepSucceeded("contain", 1),
        TaskCompleted("mrb", "r1:mrb:1", "sqe", "approve", "SQE"),
        TaskCompleted("mrb", "r1:mrb:1", "buyer", "approve", "BU"),
        StepSucceeded("execute", 1),
    ]
    run = drive(t, facts).run
    assert (run.status, run.outcome) == (RunStatus.COMPLETED, "closed")

    back = reencode(run)

    assert back == run
    assert back.ended_at == T0


def test_steps_are_stored_without_their_default_fields() -> None:
    run = Run(
        "r1",
        RunStatus.RUNNING,
        steps={
            "fresh": StepState(),
            "done": StepState(StepStatus.DONE, visit=1, output=0, detail={"k": 1}),
            "falsy": StepState(StepStatus.DONE, visit=1, output=False, error=""),
        },
    )

    data = codec.run_to_dict(run)

    assert data["format"] == codec.FORMAT
    assert data["steps"] == {
        "fresh": {},
        "done": {"status": "done", "visit": 1, "output": 0, "detail": {"k": 1}},
        "falsy": {"status": "done", "visit": 1, "output": False, "error": ""},
    }
    assert reencode(run) == run


def test_an_unknown_snapshot_format_is_refused() -> None:
    data = codec.run_to_dict(Run("r1"))

    for bad in (None, 0, codec.FORMAT + 1, "1"):
        with pytest.raises(InputError, match="run state format"):
            codec.run_from_dict({**data, "format": bad})
    without = {k: v for k, v in data.items() if k != "format"}
    with pytest.raises(InputError, match="format None is not supported"):
        codec.run_from_dict(without)


def test_a_format_1_snapshot_in_flight_is_upgraded_and_keeps_one_key_per_visit() -> None:
    t = retry_template_for_codec()
    run = drive(t, [started(t), StepFailed("weigh", 1, "offline")]).run
    old = codec.run_to_dict(run)
    old["format"] = 1  # as stored before steps had an activation
    old["steps"] = {
        sid: {k: v for k, v in raw.items() if k != "activation"}
        for sid, raw in _dict(old["steps"]).items()
    }

    back = codec.run_from_dict(through_json(old))

    # the entering fact is not in a format 1 snapshot: its last seq stands in for it
    assert back.step("weigh").activation == run.seq == 2
    assert back.step("weigh").attempt == 1
    retries = [
        TimerFired("retry:weigh:1"),
        StepFailed("weigh", 2, "x"),
        TimerFired("retry:weigh:2"),
    ]
    after = drive(t, retries, run=back)
    sent = [(c.attempt, c.idempotency_key) for c in after.commands if isinstance(c, RunAction)]
    assert sent == [(2, "r1:weigh:2"), (3, "r1:weigh:2")]
    assert codec.run_to_dict(back)["format"] == codec.FORMAT


def retry_template_for_codec() -> Template:
    return template(
        """
        id: retry-codec
        version: 1
        steps:
          - {id: weigh, kind: action, action: scale.weigh, retry: {max_attempts: 3}}
        """
    )


def _dict(value: object) -> dict[str, JsonObject]:
    assert isinstance(value, dict)
    return value


def test_an_unknown_run_field_is_refused() -> None:
    data = {**codec.run_to_dict(Run("r1")), "colour": "red"}

    with pytest.raises(InputError, match="Run has no field 'colour'"):
        codec.run_from_dict(data)


def test_run_timestamps_are_iso_strings() -> None:
    run = Run("r1", started_at=datetime(2025, 3, 3, 8, 0, tzinfo=UTC))

    data = codec.run_to_dict(run)

    assert data["started_at"] == "2025-03-03T08:00:00+00:00"
    assert data["ended_at"] is None
    assert json.dumps(data)  # plain JSON, nothing custom left
