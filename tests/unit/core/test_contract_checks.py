"""Event contracts: which schemas may be contracts, which new versions may follow, and what
a template may trigger on, wait for and read."""

from __future__ import annotations

import copy

import pytest

from andon.core.contracts import (
    EventContract,
    incompatibilities,
    schema_problems,
    template_problems,
)
from andon.core.json import JsonObject
from andon.core.loader import load_template

WORK_ORDER: JsonObject = {
    "type": "object",
    "required": ["work_order_id", "asset_id", "priority"],
    "properties": {
        "work_order_id": {"type": "string"},
        "asset_id": {"type": "string"},
        "priority": {"type": "string", "enum": ["P1", "P2", "P3", "P4"]},
        "downtime_min": {"type": "integer"},
        "failure": {
            "type": "object",
            "required": ["mode"],
            "properties": {"mode": {"type": "string"}, "cause": {"type": "string"}},
        },
        "parts_used": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["item", "qty"],
                "properties": {"item": {"type": "string"}, "qty": {"type": "number"}},
            },
        },
    },
}


def changed(edit: str, value: object = None) -> JsonObject:
    """WORK_ORDER with one edit applied at a dotted path (``-`` prefix deletes)."""
    new = copy.deepcopy(WORK_ORDER)
    path = edit.lstrip("-").split(".")
    node = new
    for name in path[:-1]:
        node = node[name]  # type: ignore[assignment]
    if edit.startswith("-"):
        del node[path[-1]]
    else:
        node[path[-1]] = value  # type: ignore[assignment]
    return new


def test_a_valid_object_schema_is_a_contract() -> None:
    assert schema_problems(WORK_ORDER) == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([1, 2], "must be a JSON Schema object"),
        ({"type": "string"}, '"type": "object"'),
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "invalid JSON Schema"),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}},
            "data.a: '$ref' is not supported",
        ),
        (
            {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
            "data.a: 'anyOf' is not supported",
        ),
    ],
)
def test_schemas_that_cannot_be_contracts_are_refused_with_the_reason(
    schema: object, message: str
) -> None:
    problems = schema_problems(schema)  # type: ignore[arg-type]
    assert problems and message in problems[0]


@pytest.mark.parametrize(
    "new",
    [
        changed("properties.reported_by", {"type": "string"}),  # an optional field added
        changed("properties.failure.properties.mechanism", {"type": "string"}),  # nested
        changed("properties.priority.enum", ["P1", "P2", "P3", "P4", "P5"]),  # a value added
        changed("description", "now documented"),
    ],
)
def test_compatible_versions_pass(new: JsonObject) -> None:
    assert incompatibilities(WORK_ORDER, new) == []


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (changed("-properties.asset_id"), "data.asset_id: removed"),
        (changed("properties.downtime_min", {"type": "string"}), "data.downtime_min: type changed"),
        (
            changed("properties.failure.properties.mode", {"type": "integer"}),
            "data.failure.mode: type changed from string to integer",
        ),
        (
            changed("properties.parts_used.items.properties.qty", {"type": "string"}),
            "data.parts_used[].qty: type changed from number to string",
        ),
        (
            changed("required", ["work_order_id", "asset_id", "priority", "downtime_min"]),
            "data.downtime_min: newly required",
        ),
        (changed("required", ["work_order_id", "asset_id"]), "data.priority: no longer required"),
        (changed("properties.priority.enum", ["P1", "P2"]), "values no longer allowed"),
        (changed("-properties.failure.properties.cause"), "data.failure.cause: removed"),
    ],
)
def test_incompatible_versions_fail_naming_the_field(new: JsonObject, problem: str) -> None:
    found = incompatibilities(WORK_ORDER, new)
    assert any(problem in p for p in found), found


def contracts(**schemas: JsonObject) -> dict[str, EventContract]:
    return {
        name.replace("__", "."): EventContract(name.replace("__", "."), 1, schema, "d")
        for name, schema in schemas.items()
    }


CLOSE_OUT = """
id: close-out
version: 1
roles: [MS]
input:
  type: object
  required: [work_order_id, asset_id]
  properties:
    work_order_id: {type: string}
    asset_id: {type: string}
triggers: [{event: maintenance.work_order_completed, key: input.work_order_id}]
steps:
  - id: wait_verified
    kind: wait
    event: maintenance.verified
    key: input.work_order_id
  - id: check
    kind: decide
    rules:
      - {id: long, when: "steps.wait_verified.output.failure.mode == 'VIB'", then: {x: 1}}
    default: {x: 0}
  - {id: done, kind: end, outcome: closed}
"""


def test_a_template_on_registered_types_reading_declared_fields_passes() -> None:
    template = load_template(CLOSE_OUT)
    known = contracts(
        maintenance__work_order_completed=WORK_ORDER, maintenance__verified=WORK_ORDER
    )
    assert template_problems(template, known) == []


def test_unregistered_trigger_and_wait_types_fail_at_their_paths() -> None:
    template = load_template(CLOSE_OUT)
    problems = template_problems(template, {})
    assert [(p.path, "no registered contract" in p.message) for p in problems] == [
        ("triggers[0].event", True),
        ("steps[0].event", True),
    ]
    assert "maintenance.work_order_completed" in problems[0].message


def test_reading_a_field_the_event_schema_lacks_fails() -> None:
    template = load_template(CLOSE_OUT.replace("failure.mode", "failure.reason"))
    known = contracts(
        maintenance__work_order_completed=WORK_ORDER, maintenance__verified=WORK_ORDER
    )
    problems = template_problems(template, known)
    assert len(problems) == 1
    assert problems[0].path == "steps[1]"
    assert "reads 'failure.reason', which maintenance.verified v1 does not declare" in (
        problems[0].message
    )


def test_a_triggered_input_the_event_may_not_satisfy_fails() -> None:
    loose = changed("required", ["work_order_id"])  # asset_id optional in the event
    template = load_template(CLOSE_OUT)
    problems = template_problems(
        template, contracts(maintenance__work_order_completed=loose, maintenance__verified=loose)
    )
    assert [p.path for p in problems] == ["triggers[0].event"]
    assert "input requires 'asset_id'" in problems[0].message
    retyped = changed("properties.asset_id", {"type": "integer"})
    problems = template_problems(
        template,
        contracts(maintenance__work_order_completed=retyped, maintenance__verified=WORK_ORDER),
    )
    assert ["input 'asset_id' is string" in p.message for p in problems] == [True]


def test_a_trigger_condition_starts_runs_only_for_the_events_it_accepts() -> None:
    from andon.core.loader import load_template, validate_text

    text = """
id: stops
version: 1
input: {type: object, properties: {state: {type: object, properties: {current: {type: string}}}}}
triggers:
  - {event: machine.state_changed, when: "input.state.current in ['Held', 'Aborted']"}
steps:
  - {id: done, kind: end, outcome: seen}
"""
    template = load_template(text)
    assert template.starts_on("machine.state_changed", {"state": {"current": "Held"}})
    assert not template.starts_on("machine.state_changed", {"state": {"current": "Execute"}})
    assert not template.starts_on("machine.other", {"state": {"current": "Held"}})
    _, problems = validate_text(text.replace("input.state.current in", "params.x in"), "t.yaml")
    assert [(p.path, p.line) for p in problems][-1] == ("triggers[0].when", 6)
    assert "may only read 'input'" in problems[-1].message
