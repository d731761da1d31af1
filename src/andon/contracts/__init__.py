"""The standard catalogue of event contracts (DOMAIN.md §2.5), shipped as JSON Schemas.

Every tenant starts with these at version 1; a tenant's own registrations add types or
later versions of these (backward compatible, checked on registration).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources

from andon.core.contracts import EventContract
from andon.core.json import JsonObject, canonical_json

ENVELOPE = "envelope"


def digest(schema: JsonObject) -> str:
    return hashlib.sha256(canonical_json(schema).encode()).hexdigest()


@cache
def catalogue() -> dict[str, EventContract]:
    """The standard contracts by event type, each at version 1."""
    found = {}
    for entry in resources.files(__package__).joinpath("catalogue").iterdir():
        name = entry.name.removesuffix(".json")
        if entry.name.endswith(".json") and name != ENVELOPE:
            schema = json.loads(entry.read_text(encoding="utf-8"))
            found[name] = EventContract(name, 1, schema, digest(schema))
    return dict(sorted(found.items()))


@cache
def envelope_schema() -> JsonObject:
    """The CloudEvents 1.0 envelope with Andon's extension attributes."""
    text = resources.files(__package__).joinpath("catalogue", f"{ENVELOPE}.json").read_text()
    schema: JsonObject = json.loads(text)
    return schema
