"""The NCR-lite benchmark's actions, for worker processes.

Loaded with ``ANDON_ACTIONS=andon.tools.bench.actions``.
"""

from __future__ import annotations

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue


def validate(call: ActionCall) -> JsonValue:
    return {"ok": True, "lot": call.input["lot"]}


def notify(call: ActionCall) -> JsonValue:
    return {"notified": True}


def register(registry: ActionRegistry) -> None:
    registry.register("bench.validate", validate)
    registry.register("bench.notify", notify)
