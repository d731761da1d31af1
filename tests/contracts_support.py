"""Publishing test templates that trigger on or wait for made-up event types.

Publishing checks a template against the event contracts (ADR 0013), so a test template's
custom types need contracts first. These are derived from the template: a trigger's event
carries the template's input, a waited-for event is a free-form object (any field may be
read from it). Types the reference templates read use their shipped contracts
(templates/contracts/).
"""

from __future__ import annotations

import json
from pathlib import Path

from andon.core.json import JsonObject
from andon.core.loader import load_template
from andon.core.template import Template, WaitSpec
from andon.governance.identity import Actor
from andon.runtime.service import Andon

REFERENCE = Path(__file__).resolve().parents[1] / "templates" / "contracts"
FREE_FORM: JsonObject = {"type": "object", "additionalProperties": True}
# The smallest run that assigns a task, and so sends andon.task.assigned out.
REVIEW_FLOW = """
id: review
version: 1
roles: [QE]
steps:
  - {id: check, kind: approval, roles: [QE]}
  - {id: done, kind: end, outcome: closed}
"""


def declare_events(service: Andon, actor: Actor, text: str) -> None:
    """Register a contract for each custom event type ``text`` reads that the standard
    catalogue and the tenant do not have yet."""
    template = load_template(text)
    known = {c.event_type for c in service.contracts(actor)}
    wanted: dict[str, JsonObject] = {}
    for step in template.steps.values():
        if isinstance(step.spec, WaitSpec):
            wanted.setdefault(step.spec.event, FREE_FORM)
    for trigger in template.triggers:
        wanted[trigger.event] = {**template.input_schema, "additionalProperties": True}
    for event_type, schema in wanted.items():
        shipped = REFERENCE / f"{event_type}.json"
        if shipped.is_file():
            schema = json.loads(shipped.read_text("utf-8"))
        if event_type not in known:
            service.register_contract(actor, event_type, schema)


def publish(service: Andon, actor: Actor, text: str, source: str = "") -> Template:
    declare_events(service, actor, text)
    return service.publish_template(actor, text, source)


def accept_any(service: Andon, actor: Actor, *event_types: str) -> None:
    """Free-form contracts for made-up event types a test sends without a template that
    reads them (any object is accepted)."""
    for event_type in event_types:
        service.register_contract(actor, event_type, FREE_FORM)
