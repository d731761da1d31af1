"""Checking data against a JSON Schema (run input now; event contracts later).

Validation runs on every start and every inbound event, so it uses the compiled
``jsonschema_rs`` validator (well under a microsecond for typical inputs) rather than
re-walking the schema in Python. Templates' schemas are checked for well-formedness by
the loader; this module only judges instances.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from andon.core.json import JsonValue


class InstanceSchema:
    """A compiled Draft 2020-12 schema that names every problem with its path."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(schema)

    def problems(self, data: JsonValue, root: str, limit: int = 20) -> list[str]:
        """``root.path: message`` lines, in path order; empty when ``data`` is valid."""
        if self._validator.is_valid(data):
            return []
        found = []
        for error in self._validator.iter_errors(data):
            path = list(error.instance_path)
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            found.append((_sort_key(path), f"{root}{where}: {error.message}"))
            if len(found) >= limit:
                break
        return [line for _, line in sorted(found)]


def _sort_key(path: list[str | int]) -> list[tuple[int, str]]:
    return [(0, f"{p:012d}") if isinstance(p, int) else (1, p) for p in path]
