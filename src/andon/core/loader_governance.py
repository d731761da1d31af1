"""The governance parts of a template: ``duties``, ``regulated``, ``retention`` and an
approval's ``signature``. Parsed apart from the step kinds so each file stays small."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from andon.core.json import JsonValue
from andon.core.template import SIGNATURE_MEANINGS, DutyRules, SignatureSpec

RETENTION_CLASS = re.compile(r"[a-z][a-z0-9-]{0,40}")
INPUT_PATH = re.compile(r"input(\.[A-Za-z_][A-Za-z0-9_]*)+")
Report = Callable[[str, str], None]


def duties(raw: JsonValue, roles: set[str], steps: Mapping[str, object], add: Report) -> DutyRules:
    if raw is None:
        return DutyRules()
    if not isinstance(raw, dict):
        add("duties", "must be a mapping with 'conflicting_roles', 'separate_steps', 'barred'")
        return DutyRules()
    for key in raw:
        if key not in ("conflicting_roles", "separate_steps", "barred"):
            add(f"duties.{key}", f"unknown field '{key}'")
    pairs_of_roles = _pairs(raw.get("conflicting_roles", []), "duties.conflicting_roles", add)
    for index, pair in enumerate(pairs_of_roles):
        for role in pair:
            if role not in roles:
                add(f"duties.conflicting_roles[{index}]", f"undefined role '{role}'")
    pairs_of_steps = _pairs(raw.get("separate_steps", []), "duties.separate_steps", add)
    for index, pair in enumerate(pairs_of_steps):
        for step in pair:
            if step not in steps:
                add(f"duties.separate_steps[{index}]", f"unknown step '{step}'")
    return DutyRules(tuple(pairs_of_roles), tuple(pairs_of_steps), _barred(raw.get("barred"), add))


def _barred(raw: JsonValue, add: Report) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        add("duties.barred", "must be a list of input paths like input.author")
        return ()
    found = []
    for index, item in enumerate(raw):
        if isinstance(item, str) and INPUT_PATH.fullmatch(item):
            found.append(item)
        else:
            add(f"duties.barred[{index}]", f"must be an input path like input.author, got {item!r}")
    return tuple(found)


def _pairs(raw: JsonValue, path: str, add: Report) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        add(path, "must be a list of [A, B] pairs")
        return []
    found = []
    for index, item in enumerate(raw):
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, str) for x in item)
            and item[0] != item[1]
        ):
            found.append((str(item[0]), str(item[1])))
        else:
            add(f"{path}[{index}]", f"must be a pair of two different names, got {item!r}")
    return found


def regulated(raw: JsonValue, add: Report) -> bool:
    if not isinstance(raw, bool):
        add("regulated", f"must be true or false, got {raw!r}")
        return False
    return raw


def retention(raw: JsonValue, add: Report) -> str:
    if not isinstance(raw, str) or not RETENTION_CLASS.fullmatch(raw):
        add("retention", f"must be a retention class name like 'batch-release', got {raw!r}")
        return "standard"
    return raw


def signature(raw: JsonValue, path: str, add: Report) -> SignatureSpec | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"meaning": raw}
    if not isinstance(raw, dict):
        add(path, "must be a meaning or {meaning, reason_required}")
        return None
    for key in raw:
        if key not in ("meaning", "reason_required"):
            add(f"{path}.{key}", f"unknown field '{key}'")
    meaning = raw.get("meaning")
    if meaning not in SIGNATURE_MEANINGS:
        add(f"{path}.meaning", f"must be one of {', '.join(SIGNATURE_MEANINGS)}, got {meaning!r}")
        return None
    reason_required = raw.get("reason_required", False)
    if not isinstance(reason_required, bool):
        add(f"{path}.reason_required", "must be true or false")
        reason_required = False
    return SignatureSpec(str(meaning), reason_required)
