"""Event contracts: the JSON Schema each event type's data follows, by version.

Pure checks, no I/O: is a schema usable as a contract, may a new version replace the
latest one (backward compatible: consumers written for the old version keep working, old
producers' events stay valid), and does a template only trigger on and wait for
registered types and read fields their schemas declare.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from andon.core.expressions import Expression
from andon.core.json import JsonObject, JsonValue
from andon.core.template import Template, WaitSpec
from andon.errors import Problem

# ``steps.<wait step>.output.<field>...``: how a template reads the event a wait took.
_OUTPUT_READ = re.compile(r"\bsteps\.([a-z][a-z0-9_]*)\.output((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
_UNSUPPORTED = ("$ref", "$dynamicRef", "allOf", "anyOf", "oneOf", "not", "if")


@dataclass(frozen=True, slots=True)
class EventContract:
    event_type: str
    version: int
    schema: JsonObject
    digest: str

    @property
    def urn(self) -> str:
        """The ``dataschema`` of events that follow it (DOMAIN.md §2.4)."""
        return f"urn:andon:schema:{self.event_type}:{self.version}"


def schema_problems(schema: JsonValue) -> list[str]:
    """Why ``schema`` cannot be a contract: it must be a valid JSON Schema (2020-12) for
    an object, self-contained (no references or combinators, which the field and
    compatibility checks could not follow)."""
    if not isinstance(schema, dict):
        return ["a contract must be a JSON Schema object"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return [f"invalid JSON Schema{f' at {where}' if where else ''}: {exc.message}"]
    problems = [] if _types(schema) == {"object"} else ['the data must be "type": "object"']
    problems += [
        f"{path}: '{key}' is not supported in contracts (describe the fields inline)"
        for path, node in _nodes(schema, "data")
        for key in _UNSUPPORTED
        if key in node
    ]
    return problems


def incompatibilities(old: JsonObject, new: JsonObject, path: str = "data") -> list[str]:
    """What makes ``new`` break consumers or producers of ``old``; empty when it may
    follow it. Added optional fields pass; a field removed, retyped, newly required or
    no longer required fails."""
    problems: list[str] = []
    old_types, new_types = _types(old), _types(new)
    if old_types and old_types != new_types:
        was, now = " or ".join(sorted(old_types)), " or ".join(sorted(new_types)) or "any"
        return [f"{path}: type changed from {was} to {now}"]
    old_props, new_props = _properties(old), _properties(new)
    old_required, new_required = _required(old), _required(new)
    for name, old_field in old_props.items():
        where = f"{path}.{name}"
        if name not in new_props:
            problems.append(f"{where}: removed")
            continue
        if name in old_required and name not in new_required:
            problems.append(f"{where}: no longer required (consumers rely on it)")
        problems += incompatibilities(old_field, new_props[name], where)
    for name in sorted(new_required - old_required):
        problems.append(f"{path}.{name}: newly required (events of older producers lack it)")
    old_items, new_items = old.get("items"), new.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        problems += incompatibilities(old_items, new_items, f"{path}[]")
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if isinstance(old_enum, list) and isinstance(new_enum, list):
        dropped = [v for v in old_enum if v not in new_enum]
        if dropped:
            problems.append(f"{path}: values no longer allowed: {dropped}")
    return problems


def template_problems(template: Template, contracts: Mapping[str, EventContract]) -> list[Problem]:
    """Triggers and waits on unregistered types, fields read that an event's schema does
    not declare, and triggered inputs that an event of the type may not satisfy."""
    problems: list[Problem] = []
    for index, trigger in enumerate(template.triggers):
        contract = contracts.get(trigger.event)
        where = f"triggers[{index}].event"
        if contract is None:
            problems.append(Problem(where, _unregistered(trigger.event, "triggers on")))
        else:
            for message in _input_gaps(template.input_schema, contract):
                problems.append(Problem(where, message))
    waits: dict[str, EventContract] = {}
    for index, (step_id, step) in enumerate(template.steps.items()):
        if isinstance(step.spec, WaitSpec):
            contract = contracts.get(step.spec.event)
            if contract is None:
                problems.append(Problem(f"steps[{index}].event", _unregistered(step.spec.event)))
            else:
                waits[step_id] = contract
    for index, step in enumerate(template.steps.values()):
        for expression in _expressions(step):
            for message in _undeclared_reads(expression, waits):
                problems.append(Problem(f"steps[{index}]", message))
    return problems


def _unregistered(event_type: str, verb: str = "waits for") -> str:
    return (
        f"{verb} '{event_type}', which has no registered contract "
        "(register its JSON Schema first: andon contracts register)"
    )


def _input_gaps(input_schema: JsonObject, contract: EventContract) -> list[str]:
    """A triggered run's input is the event's data: every field the input requires must be
    one each event of the type carries, with the same type."""
    gaps = []
    event_props, event_required = _properties(contract.schema), _required(contract.schema)
    for name in sorted(_required(input_schema)):
        wanted = _properties(input_schema).get(name, {})
        if name not in event_required:
            gaps.append(
                f"input requires '{name}', which {contract.event_type} v{contract.version} "
                "does not require of its events"
            )
        elif _types(wanted) and _types(wanted) != _types(event_props.get(name, {})):
            gaps.append(
                f"input '{name}' is {' or '.join(sorted(_types(wanted)))}, but in "
                f"{contract.event_type} v{contract.version} it is "
                f"{' or '.join(sorted(_types(event_props.get(name, {})))) or 'untyped'}"
            )
    return gaps


def _undeclared_reads(expression: Expression, waits: Mapping[str, EventContract]) -> list[str]:
    found = []
    for match in _OUTPUT_READ.finditer(expression.source):
        step_id, selection = match.group(1), match.group(2)
        contract = waits.get(step_id)
        if contract is None or not selection:
            continue
        missing = _missing_field(contract.schema, selection.lstrip(".").split("."))
        if missing is not None:
            found.append(
                f"{expression.source!r} reads '{missing}', which {contract.event_type} "
                f"v{contract.version} does not declare"
            )
    return found


def _missing_field(schema: JsonObject, names: list[str]) -> str | None:
    """The first of ``names`` (a path into the data) the schema does not declare."""
    node: JsonObject = schema
    walked: list[str] = []
    for name in names:
        props = _properties(node)
        if not props and node.get("additionalProperties") not in (None, False):
            return None  # a free-form map: any key may be there
        walked.append(name)
        if name not in props:
            return ".".join(walked)
        node = props[name]
    return None


def _expressions(value: Any) -> Iterator[Expression]:
    """Every expression inside a step's spec (dataclasses, tuples and mappings)."""
    if isinstance(value, Expression):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            yield from _expressions(getattr(value, field.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _expressions(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _expressions(item)


def _nodes(schema: JsonObject, path: str) -> Iterator[tuple[str, JsonObject]]:
    yield path, schema
    for name, child in _properties(schema).items():
        yield from _nodes(child, f"{path}.{name}")
    items = schema.get("items")
    if isinstance(items, dict):
        yield from _nodes(items, f"{path}[]")


def _types(schema: JsonValue) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if "properties" in schema:
        return {"object"}
    return set()


def _properties(schema: JsonValue) -> dict[str, JsonObject]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return {}
    return {k: v for k, v in props.items() if isinstance(v, dict)}


def _required(schema: JsonValue) -> set[str]:
    required = schema.get("required") if isinstance(schema, dict) else None
    return {str(r) for r in required} if isinstance(required, list) else set()
