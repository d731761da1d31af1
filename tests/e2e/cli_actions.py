"""Actions for the CLI end-to-end test (loaded with ANDON_ACTIONS=cli_actions)."""

from __future__ import annotations

from andon.actions.registry import ActionCall, ActionRegistry
from andon.core.json import JsonValue


def ok(call: ActionCall) -> JsonValue:
    return {"done": call.idempotency_key}


def register(registry: ActionRegistry) -> None:
    for name in (
        "qms.record_ncr",
        "erp.block_lot",
        "erp.execute_disposition",
        "supplier.issue_scar",
        "notify.escalate",
        "erp.quarantine_lot",
        "erp.release_lot",
    ):
        registry.register(name, ok)
