"""What a run's journal means to a process owner: activities, and the objects they touch.

Activities are named ``"<template>: <step> done"`` and so on (``KINDS`` lists every kind
with its attributes). Facts that only matter to the engine (claims, releases, refused
attempts, retry back-off timers) are left out. Objects come from the run's input fields and
action outputs by name (``INPUT_OBJECTS``, ``OUTPUT_OBJECTS``); the run itself is an object
too, the case.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from andon.core.json import JsonObject, JsonValue, canonical_json
from andon.export.source import Case, Fact

Scalar = str | int | float | bool

RUN = "run"
"""Object type of the run (the case) itself."""

INPUT_OBJECTS: tuple[tuple[str, str], ...] = (
    ("ncr_id", "ncr"),
    ("pr_id", "purchase_requisition"),
    ("batch", "batch"),
    ("equipment.id", "equipment"),
    ("lot", "lot"),
    ("supplier", "supplier"),
    ("part", "part"),
    ("product", "product"),
    ("po", "purchase_order"),
    ("cost_center", "cost_center"),
    ("requester", "requester"),
)
"""Run input fields (dotted paths) that name a business object, and its type. The first one
present names the run's main object (an NCR, a requisition), which links to the others."""

OUTPUT_OBJECTS: dict[str, str] = {
    "po": "purchase_order",
    "po_number": "purchase_order",
    "purchase_order": "purchase_order",
    "scar_id": "scar",
    "rma": "rma",
    "concession_id": "concession",
    "work_order_id": "work_order",
}
"""Keys of an action's output that name an object the action brought into being."""

KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "started": (("plant", "string"),),
    "done": (("step", "string"), ("attempt", "integer")),
    "failed": (("step", "string"), ("attempt", "integer"), ("error", "string")),
    "decided": (("step", "string"), ("outcome", "string"), ("role", "string")),
    "received": (("step", "string"), ("event_type", "string"), ("key", "string")),
    "escalated": (("step", "string"), ("level", "integer"), ("to_role", "string")),
    "overdue": (("step", "string"),),
    "timed_out": (("step", "string"),),
    "elapsed": (("step", "string"),),
    "retried": (("step", "string"),),
    "cancelled": (("reason", "string"),),
    "ended": (("outcome", "string"),),
}
"""Every kind of activity with its attributes (name, OCEL type), in output order."""

LIFECYCLE: dict[str, str] = {"failed": "ate_abort"}
"""XES lifecycle:transition by kind; every other kind is ``complete``."""

_TIMER_CHANGES = {"escalated", "overdue", "timed_out", "elapsed"}
_UNPAIRED = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Written:
    """What an export wrote."""

    cases: int
    events: int
    objects: int = 0
    relations: int = 0
    """Event-to-object relationships (OCEL)."""
    links: int = 0
    """Object-to-object relationships (OCEL)."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A business object a run refers to, and how (the input field or step output)."""

    type: str
    key: str
    qualifier: str

    @property
    def id(self) -> str:
        return f"{self.type}:{self.key}"


@dataclass(frozen=True, slots=True)
class Activity:
    """One event of the process, from one journal fact."""

    id: str
    kind: str
    name: str
    at: float
    resource: str
    attributes: tuple[tuple[str, Scalar], ...]
    created: tuple[ObjectRef, ...] = ()
    """Objects this event brought into being (from an action's output)."""

    @property
    def lifecycle(self) -> str:
        return LIFECYCLE.get(self.kind, "complete")


def text(value: str) -> str:
    """``value`` without unpaired surrogates, which no UTF-8 file can hold."""
    return _UNPAIRED.sub("\ufffd", value)


def iso(at: float) -> str:
    """UTC seconds since the epoch as ISO 8601 with microseconds."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")


def activities(case: Case, fact: Fact) -> Iterator[Activity]:
    """The process events of one fact: none, one, or one plus the run's end."""
    body, template = fact.body, case.template_id
    step = _str(body.get("step"))
    event_id = f"{fact.run_id}:{fact.seq}"

    def make(
        kind: str, name: str, *values: JsonValue, created: tuple[ObjectRef, ...] = ()
    ) -> Activity:
        pairs = tuple(
            (attr, _scalar(value)) for (attr, _), value in zip(KINDS[kind], values, strict=True)
        )
        name = text(f"{template}: {name}")
        return Activity(event_id, kind, name, fact.at, text(fact.actor), pairs, created)

    if fact.type == "RunStarted":
        yield make("started", "started", body.get("plant"))
    elif fact.type == "StepSucceeded":
        created = output_objects(step, body.get("output"))
        yield make("done", f"{step} done", step, body.get("attempt"), created=created)
    elif fact.type == "StepFailed":
        yield make("failed", f"{step} failed", step, body.get("attempt"), body.get("error"))
    elif fact.type == "TaskCompleted":
        outcome = _str(body.get("outcome"))
        yield make("decided", f"{step} decided {outcome}", step, outcome, body.get("role"))
    elif fact.type == "EventReceived":
        event_type = _str(body.get("event_type"))
        yield make("received", f"{step} received {event_type}", step, event_type, body.get("key"))
    elif fact.type == "TimerFired":
        timer = _timer(_str(body.get("key")), fact.trace)
        if timer is not None:
            kind, step, entry = timer
            values: list[JsonValue] = [step]
            if kind == "escalated":
                values += [entry.get("level"), entry.get("role")]
            yield make(kind, f"{step} {kind.replace('_', ' ')}", *values)
    elif fact.type == "IncidentRetried":
        steps = [_str(e.get("step")) for e in fact.trace if e.get("change") == "incident_retried"]
        joined = ",".join(steps)
        yield make("retried", f"{joined} retried", joined)
    elif fact.type == "RunCancelled":
        yield make("cancelled", "cancelled", body.get("reason"))
    else:
        return  # claims, releases, refused attempts: not process steps
    for entry in fact.trace:
        if entry.get("change") == "completed":
            outcome = _str(entry.get("outcome"))
            yield replace(make("ended", f"ended {outcome}", outcome), id=f"{event_id}:end")


def _timer(key: str, trace: list[JsonObject]) -> tuple[str, str, JsonObject] | None:
    """(kind, step, trace entry) of a timer; None for retry back-off timers."""
    kind, _, rest = key.partition(":")
    if kind == "retry":
        return None
    step = rest.partition(":")[0]
    for entry in trace:
        change = entry.get("change")
        if isinstance(change, str) and change in _TIMER_CHANGES and entry.get("step") == step:
            return change, step, entry
    fallback = {"escalate": "escalated", "timeout": "timed_out"}.get(kind, "elapsed")
    return fallback, step, {}


def input_objects(input: JsonObject) -> list[ObjectRef]:
    """The business objects a run's input names, the main object first."""
    found: list[ObjectRef] = []
    for path, type_ in INPUT_OBJECTS:
        key = _key(_at_path(input, path))
        if key is not None:
            found.append(ObjectRef(type_, key, path))
    return found


def output_objects(step: str, output: JsonValue) -> tuple[ObjectRef, ...]:
    """The objects an action's output names (a purchase order number, a SCAR id)."""
    if not isinstance(output, dict):
        return ()
    found = []
    for name, type_ in OUTPUT_OBJECTS.items():
        key = _key(output.get(name))
        if key is not None:
            found.append(ObjectRef(type_, key, f"{step}.{name}"))
    return tuple(found)


def input_attributes(input: JsonObject) -> list[tuple[str, Scalar]]:
    """The input's scalar fields that name no object (flattened: ``value.amount``)."""
    paths = {path for path, _ in INPUT_OBJECTS}
    found: list[tuple[str, Scalar]] = []

    def walk(prefix: str, value: JsonValue) -> None:
        if isinstance(value, dict):
            for name in sorted(value):
                walk(f"{prefix}{name}.", value[name])
        elif value is not None and not isinstance(value, list) and prefix[:-1] not in paths:
            found.append((text(prefix[:-1]), _scalar(value)))

    walk("", input)
    return found


def _at_path(value: JsonValue, path: str) -> JsonValue:
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _key(value: JsonValue) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    key = text(str(value))
    return key or None


def _str(value: JsonValue) -> str:
    return "" if value is None else text(str(value))


def _scalar(value: JsonValue) -> Scalar:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | dict):
        return text(canonical_json(value))
    return _str(value)
