"""Runs, facts and commands to and from plain JSON dicts (``"format": 2``) for storage.

A run snapshot of an older format is upgraded step by step on reading, so runs in flight
across an upgrade go on where they were."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast

from andon.core import commands as cmd
from andon.core.events import EVENT_TYPES, Event
from andon.core.json import JsonObject, JsonValue
from andon.core.run import Run, RunStatus, StepState, StepStatus
from andon.errors import InputError

FORMAT = 2

COMMAND_TYPES: dict[str, type[cmd.Command]] = {
    c.__name__: c
    for c in (
        cmd.RunAction,
        cmd.OpenTask,
        cmd.EscalateTask,
        cmd.CloseTask,
        cmd.StartTimer,
        cmd.CancelTimer,
        cmd.AwaitEvent,
        cmd.StopAwaiting,
        cmd.CompleteRun,
    )
}
_DATETIME_FIELDS = frozenset({"due_at", "expires_at", "started_at", "ended_at", "since"})
_TIMEDELTA_FIELDS = frozenset({"timeout"})
_TUPLE_FIELDS = frozenset({"roles", "active"})

T = TypeVar("T")


def _encode(value: object) -> JsonValue:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return cast(JsonValue, value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """Field names per dataclass, looked up once: ``fields()`` is slow on the hot path."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        assert is_dataclass(cls)
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _to_dict(obj: object) -> JsonObject:
    return {name: _encode(getattr(obj, name)) for name in _field_names(type(obj))}


def _from_dict(cls: type[T], data: JsonObject) -> T:
    kwargs: dict[str, object] = {}
    names = _field_names(cls)
    for key, value in data.items():
        if key not in names:
            raise InputError(f"{cls.__name__} has no field {key!r}")
        if key in _DATETIME_FIELDS and isinstance(value, str):
            kwargs[key] = datetime.fromisoformat(value)
        elif key in _TIMEDELTA_FIELDS and isinstance(value, int | float):
            kwargs[key] = timedelta(seconds=value)
        elif key in _TUPLE_FIELDS and isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def event_to_dict(event: Event) -> JsonObject:
    return {"type": type(event).__name__, **_to_dict(event)}


def event_from_dict(data: JsonObject) -> Event:
    body = dict(data)
    name = body.pop("type", None)
    cls = EVENT_TYPES.get(str(name))
    if cls is None:
        raise InputError(f"unknown event type {name!r}")
    return _from_dict(cls, body)


def command_to_dict(command: cmd.Command) -> JsonObject:
    return {"type": type(command).__name__, **_to_dict(command)}


def command_from_dict(data: JsonObject) -> cmd.Command:
    body = dict(data)
    name = body.pop("type", None)
    cls = COMMAND_TYPES.get(str(name))
    if cls is None:
        raise InputError(f"unknown command type {name!r}")
    return _from_dict(cls, body)


_STEP_DEFAULTS = _to_dict(StepState())


def _compact(data: JsonObject, defaults: JsonObject) -> JsonObject:
    """Drop fields that hold their default, keeping snapshots small."""
    return {
        k: v
        for k, v in data.items()
        if not (type(v) is type(defaults.get(k)) and v == defaults.get(k))
    }


def run_to_dict(run: Run) -> JsonObject:
    out = _to_dict(run)
    out["steps"] = {sid: _compact(_to_dict(st), _STEP_DEFAULTS) for sid, st in run.steps.items()}
    out["joins"] = dict(run.joins)
    out["format"] = FORMAT
    return out


def _activations_from_seq(body: JsonObject) -> JsonObject:
    """Format 1 to 2: steps gain ``activation``. The fact that entered an entered step is
    not in the snapshot; the run's last seq stands in: later visits get later seqs, and the
    attempts left in this visit share it."""
    steps = body.get("steps", {})
    assert isinstance(steps, dict)
    seq = body.get("seq", 0)
    return {
        **body,
        "steps": {
            sid: {**raw, "activation": seq} if isinstance(raw, dict) and raw.get("visit") else raw
            for sid, raw in steps.items()
        },
    }


_UPGRADES = {1: _activations_from_seq}
"""Per format, the step to the next one."""


def run_from_dict(data: JsonObject) -> Run:
    body = dict(data)
    version = body.pop("format", None)
    while isinstance(version, int) and version in _UPGRADES:
        body, version = _UPGRADES[version](body), version + 1
    if version != FORMAT:
        raise InputError(f"run state format {version!r} is not supported (expected {FORMAT})")
    raw_steps = body.pop("steps", {})
    assert isinstance(raw_steps, dict)
    steps = {}
    for sid, raw in raw_steps.items():
        assert isinstance(raw, dict)
        state = _from_dict(StepState, raw)
        steps[sid] = StepState(
            status=StepStatus(state.status),
            visit=state.visit,
            attempt=state.attempt,
            activation=state.activation,
            tries=state.tries,
            output=state.output,
            error=state.error,
            detail=state.detail,
        )
    run = _from_dict(Run, body)
    return Run(
        id=run.id,
        status=RunStatus(run.status),
        template_id=run.template_id,
        template_version=run.template_version,
        overlay_digest=run.overlay_digest,
        plant=run.plant,
        input=run.input,
        params=run.params,
        steps=steps,
        active=run.active,
        joins=dict(run.joins),
        outcome=run.outcome,
        incident=run.incident,
        seq=run.seq,
        started_at=run.started_at,
        ended_at=run.ended_at,
        started_by=run.started_by,
    )
