"""The JSON value type the core passes around instead of ``Any``."""

from __future__ import annotations

import json
from typing import TypeAlias

JsonScalar: TypeAlias = str | int | float | bool | None
JsonValue: TypeAlias = JsonScalar | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject: TypeAlias = dict[str, JsonValue]


def is_json(value: object, depth: int = 0) -> bool:
    """True when ``value`` is made only of JSON types (bounded depth)."""
    if depth > 64:
        return False
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(is_json(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v, depth + 1) for k, v in value.items())
    return False


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: JsonValue) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the form that is stored and hashed.

    One shared encoder: ``json.dumps`` with options builds a new one on every call.
    """
    return _CANONICAL.encode(value)
