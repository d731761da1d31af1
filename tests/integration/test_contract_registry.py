"""The contract registry: every tenant starts with the standard catalogue; a new version is
accepted only when backward compatible, and every registration is on the admin chain."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from andon import bootstrap
from andon.contracts import catalogue
from andon.core.json import JsonObject
from andon.errors import ConflictError, GovernanceError, InputError, NotFoundError, TemplateError
from andon.testing import person, tenant_reader

STANDARD = {
    "machine.state_changed", "maintenance.work_order_completed",
    "quality.nonconformance_reported", "quality.disposition_decided",
    "supplier.document_submitted", "engineering.change_released", "inventory.adjusted",
    "inventory.lot_status_changed", "shipment.delayed", "order.promise_date_changed",
    "batch.released", "purchase.requisition_submitted", "edge.connectivity_changed",
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


MAINTENANCE = """\
id: downtime
version: 1
input:
  type: object
  required: [equipment, state]
  properties: {equipment: {type: object, properties: {id: {type: string}}}, state: {type: object}}
triggers:
  - {event: machine.state_changed, key: input.equipment.id}
steps:
  - id: repaired
    kind: wait
    event: maintenance.work_order_completed
    key: input.equipment.id
  - id: check
    kind: decide
    rules:
      - {id: long, when: "steps.repaired.output.downtime_min > 60", then: {review: true}}
    default: {review: false}
  - {id: lab, kind: wait, event: lab.vibration_measured, key: input.equipment.id}
  - {id: done, kind: end, outcome: closed}
"""


def test_publishing_checks_the_template_against_the_contracts(app: bootstrap.App) -> None:
    admin = app.actor()
    with pytest.raises(TemplateError) as refused:
        app.service.publish_template(admin, MAINTENANCE, "downtime.yaml")
    assert [str(p) for p in refused.value.problems] == [
        "downtime.yaml:19 steps[2].event: waits for 'lab.vibration_measured', which has no "
        "registered contract (register its JSON Schema first: andon contracts register)"
    ]
    with tenant_reader(app) as reader:
        assert reader.template("downtime", None) is None, "nothing is stored when refused"
    lab = {"type": "object", "properties": {"rms_mm_s": {"type": "number"}}}
    app.service.register_contract(admin, "lab.vibration_measured", lab)
    published = app.service.publish_template(admin, MAINTENANCE, "downtime.yaml")
    assert published.ref == "downtime@1"


def test_reading_a_field_the_event_does_not_declare_is_refused(app: bootstrap.App) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "lab.vibration_measured", {"type": "object"})
    misread = MAINTENANCE.replace("output.downtime_min", "output.downtime_minutes")
    with pytest.raises(TemplateError) as refused:
        app.service.publish_template(admin, misread, "downtime.yaml")
    (problem,) = refused.value.problems
    assert (problem.path, problem.line) == ("steps[1]", 14)
    assert "reads 'downtime_minutes', which maintenance.work_order_completed v1" in problem.message


def test_a_trigger_needs_events_that_carry_the_required_input(app: bootstrap.App) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "lab.vibration_measured", {"type": "object"})
    needy = MAINTENANCE.replace("required: [equipment, state]", "required: [equipment, shift]")
    with pytest.raises(TemplateError) as refused:
        app.service.publish_template(admin, needy, "downtime.yaml")
    (problem,) = refused.value.problems
    assert (problem.path, problem.line) == ("triggers[0].event", 8)
    assert "input requires 'shift', which machine.state_changed v1 does not require" in str(problem)


def test_contracts_are_per_tenant_when_publishing(app: bootstrap.App) -> None:
    admin = app.actor()
    app.service.register_contract(admin, "lab.vibration_measured", {"type": "object"})
    app.service.publish_template(admin, MAINTENANCE)
    app.directory.create_tenant("tenant-b", "Other manufacturer")
    other = person(app, "b-owner", "process-owner", tenant="tenant-b")
    with pytest.raises(TemplateError, match=r"lab\.vibration_measured"):
        app.service.publish_template(other, MAINTENANCE)
