"""The contract registry: every tenant starts with the standard catalogue; a new version is
accepted only when backward compatible, and every registration is on the admin chain."""

from __future__ import annotations

import copy

import pytest
from actors import person, tenant_reader
from jsonschema import Draft202012Validator

from andon import bootstrap
from andon.contracts import catalogue
from andon.core.json import JsonObject
from andon.errors import ConflictError, GovernanceError, InputError, NotFoundError

STANDARD = {
    "machine.state_changed", "maintenance.work_order_completed",
    "quality.nonconformance_reported", "quality.disposition_decided",
    "supplier.document_submitted", "engineering.change_released", "inventory.adjusted",
    "inventory.lot_status_changed", "shipment.delayed", "order.promise_date_changed",
    "batch.released", "purchase.requisition_submitted",
}  # fmt: skip


def test_the_standard_catalogue_validates_its_own_examples() -> None:
    assert set(catalogue()) == STANDARD
    for contract in catalogue().values():
        validator = Draft202012Validator(
            contract.schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        examples = contract.schema.get("examples")
        assert isinstance(examples, list) and examples, contract.event_type
        for example in examples:
            validator.validate(example)
        broken = {k: v for k, v in examples[0].items() if k not in _required(contract.schema)}
        assert not validator.is_valid(broken), f"{contract.event_type}: required is enforced"


def _required(schema: JsonObject) -> list[str]:
    required = schema.get("required")
    assert isinstance(required, list) and required
    return [str(r) for r in required]


def test_every_tenant_starts_with_the_catalogue(app: bootstrap.App) -> None:
    listed = app.service.contracts(app.actor())
    assert {c.event_type for c in listed} == STANDARD
    assert {c.version for c in listed} == {1}
    machine = app.service.contract(app.actor(), "machine.state_changed")
    assert machine.urn == "urn:andon:schema:machine.state_changed:1"


def test_a_compatible_version_is_accepted_once_and_chained(app: bootstrap.App) -> None:
    admin = app.actor()
    base = app.service.contract(admin, "machine.state_changed").schema
    newer = copy.deepcopy(base)
    newer["properties"]["shift"] = {"type": "string"}  # type: ignore[index]
    second = app.service.register_contract(admin, "machine.state_changed", newer)
    assert second.version == 2
    again = app.service.register_contract(admin, "machine.state_changed", newer)
    assert (again.version, again.digest) == (2, second.digest)  # the same schema: no-op
    assert app.service.contract(admin, "machine.state_changed").version == 2
    assert app.service.contract(admin, "machine.state_changed", 1).schema == base
    with tenant_reader(app) as reader:
        acts = [(a.action, a.subject) for a in reader.admin_log()]
    assert acts.count(("contract.registered", "machine.state_changed@2")) == 1


def test_an_incompatible_version_is_refused_naming_every_field(app: bootstrap.App) -> None:
    admin = app.actor()
    base = app.service.contract(admin, "machine.state_changed").schema
    broken = copy.deepcopy(base)
    del broken["properties"]["equipment"]  # type: ignore[attr-defined]
    broken["required"] = [r for r in _required(base) if r != "equipment"]
    broken["properties"]["state"]["type"] = "string"  # type: ignore[index]
    with pytest.raises(ConflictError) as refused:
        app.service.register_contract(admin, "machine.state_changed", broken)
    message = str(refused.value)
    assert "not backward compatible with v1" in message
    assert "data.equipment: removed" in message
    assert "data.state: type changed from object to string" in message
    assert app.service.contract(admin, "machine.state_changed").version == 1


def test_a_new_type_starts_at_version_one_and_then_evolves_compatibly(
    app: bootstrap.App,
) -> None:
    admin = app.actor()
    first: JsonObject = {
        "type": "object",
        "required": ["lot"],
        "properties": {"lot": {"type": "string"}, "result": {"type": "number"}},
    }
    assert app.service.register_contract(admin, "lab.result_posted", first).version == 1
    retyped = copy.deepcopy(first)
    retyped["properties"]["result"] = {"type": "string"}  # type: ignore[index]
    with pytest.raises(ConflictError, match=r"data\.result: type changed from number to string"):
        app.service.register_contract(admin, "lab.result_posted", retyped)
    required = copy.deepcopy(first)
    required["required"] = ["lot", "result"]
    with pytest.raises(ConflictError, match=r"data\.result: newly required"):
        app.service.register_contract(admin, "lab.result_posted", required)
    with pytest.raises(NotFoundError, match="no version 2 of a contract"):
        app.service.contract(admin, "lab.result_posted", 2)


@pytest.mark.parametrize(
    ("event_type", "schema", "message"),
    [
        ("Lab Result", {"type": "object"}, "not a dotted event type"),
        ("lab.result", {"type": "array"}, '"type": "object"'),
        ("lab.result", {"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "$ref"),
        ("lab.result", {"type": "object", "required": "lot"}, "invalid JSON Schema"),
    ],
)
def test_bad_contracts_are_refused_with_the_reason(
    app: bootstrap.App, event_type: str, schema: JsonObject, message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("$", r"\$")):
        app.service.register_contract(app.actor(), event_type, schema)
    assert "lab.result" not in {c.event_type for c in app.service.contracts(app.actor())}


def test_registering_needs_the_right_to_publish_templates(app: bootstrap.App) -> None:
    operator = person(app, "u-op", "QE")
    schema: JsonObject = {"type": "object", "properties": {"lot": {"type": "string"}}}
    with pytest.raises(GovernanceError):
        app.service.register_contract(operator, "lab.result_posted", schema)
    assert app.service.contract(operator, "machine.state_changed").version == 1  # may read
