"""Parameter values: how overlays set them and how expressions see them."""

from __future__ import annotations

from collections.abc import Mapping

from andon.core.json import JsonObject, JsonValue
from andon.core.template import Parameter, ParamType


def cel_view(values: Mapping[str, JsonValue], params: Mapping[str, Parameter]) -> JsonObject:
    """Parameter values as expressions see them: money amounts become numbers."""
    out: JsonObject = {}
    for name, value in values.items():
        param = params.get(name)
        if param is not None and param.type is ParamType.MONEY and isinstance(value, dict):
            out[name] = {"amount": float(str(value["amount"])), "currency": value["currency"]}
        else:
            out[name] = value
    return out


def sample_from_schema(schema: JsonValue, depth: int = 0) -> JsonValue:
    """A value of the shape ``schema`` describes, used to type-check expressions."""
    if not isinstance(schema, dict) or depth > 12:
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if not isinstance(props, dict):
            return {}
        return {k: sample_from_schema(v, depth + 1) for k, v in props.items()}
    if kind == "array":
        item = sample_from_schema(schema.get("items", {}), depth + 1)
        return [item] if item is not None else []
    samples: dict[str, JsonValue] = {"string": "x", "integer": 1, "number": 1.5, "boolean": False}
    return samples.get(str(kind))


def coerce_to_schema(value: JsonValue, schema: JsonValue, depth: int = 0) -> JsonValue:
    """Turn integers into floats where ``schema`` says ``number``.

    JSON does not tell 2 from 2.0, but CEL does (``double * int`` is a type error), so
    run input is normalised once, at the start, to the types its schema declares.
    """
    if not isinstance(schema, dict) or depth > 12:
        return value
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if isinstance(props, dict):
            return {k: coerce_to_schema(v, props.get(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_to_schema(v, schema.get("items"), depth + 1) for v in value]
    return value
