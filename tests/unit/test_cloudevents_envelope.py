"""CloudEvents envelopes in and out: what is taken, and that refusals name the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from andon.errors import EnvelopeError, InputError
from andon.intake import InboundEvent
from andon.intake.cloudevents import encode, parse, parse_type, to_cloudevent

CATALOGUE = Path(__file__).parents[2] / "src/andon/contracts/catalogue/envelope.json"
SCHEMA = json.loads(CATALOGUE.read_text())
EXAMPLE: dict[str, Any] = SCHEMA["examples"][0]
T0 = datetime(2026, 11, 24, 9, 14, 3, 120000, tzinfo=UTC)


def _bytes(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def _with(**changes: Any) -> bytes:
    envelope = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is ...:
            envelope.pop(name, None)
        else:
            envelope[name] = value
    return _bytes(envelope)


def test_catalogue_example_is_taken() -> None:
    event = parse(_bytes(EXAMPLE))
    assert event == InboundEvent(
        event_type="machine.state_changed",
        key="ACME.DE-STR.MACH.L01.CNC-07",
        data=EXAMPLE["data"],
        source="/connectors/opcua/DE-STR/edge-L01",
        event_id="0193a1c2-7d4e-7a10-9b2f-5c1e2d3f4a5b",
        plant="DE-STR",
    )


def test_minimal_envelope_keys_on_correlationid_and_defaults_data() -> None:
    payload = b'{"specversion":"1.0","id":"e1","source":"/s","type":"andon.a.b.v1","correlationid":"case-1"}'
    event = parse(payload)
    assert (event.event_type, event.key, event.data, event.plant) == ("a.b", "case-1", {}, "")


def test_subject_wins_over_correlationid() -> None:
    assert parse(_with(subject="DOC-1", correlationid="case-9")).key == "DOC-1"


def test_the_envelope_id_is_the_event_id() -> None:
    assert parse(_bytes(EXAMPLE)).event_id == EXAMPLE["id"]


def test_a_breaking_major_version_is_a_type_of_its_own() -> None:
    assert parse(_with(type="andon.machine.state_changed.v1")).event_type == "machine.state_changed"
    assert parse(_with(type="andon.machine.state_changed.v2")).event_type == (
        "machine.state_changed.v2"
    )


def test_custom_prefix() -> None:
    event = parse(_with(type="acme.quality.ncr_reported.v3"), prefix="acme")
    assert event.event_type == "quality.ncr_reported.v3"
    assert parse_type("com.acme.x.y.v10", "com.acme") == ("x.y", 10)


def test_json_media_types_with_parameters_are_accepted() -> None:
    assert parse(_with(datacontenttype="application/json; charset=utf-8")).data == EXAMPLE["data"]
    assert parse(_with(datacontenttype="application/vnd.acme+json")).data == EXAMPLE["data"]


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b"\xff\xfe", "", "not UTF-8"),
        (b"{not json", "", "not JSON"),
        (b'{"a": NaN}', "", "NaN is not a JSON number"),
        (b"[1, 2]", "", "must be a JSON object, got list"),
        (_with(specversion="0.3"), "specversion", "must be '1.0', got \"0.3\""),
        (_with(specversion=...), "specversion", "got nothing"),
        (_with(id=...), "id", "is required"),
        (_with(id=""), "id", "non-empty string"),
        (_with(id=7), "id", "non-empty string, got 7"),
        (_with(source=None), "source", "must not be null"),
        (_with(type=...), "type", "is required"),
        (_with(type="other.machine.state_changed.v1"), "type", "must start with 'andon.'"),
        (_with(type="andon.machine.state_changed"), "type", "<domain>.<event>.v<major>"),
        (_with(type="andon.state_changed.v1"), "type", "<domain>.<event>.v<major>"),
        (_with(type="andon.machine.x.state_changed.v1"), "type", "<domain>.<event>.v<major>"),
        (_with(type="andon.Machine.state_changed.v1"), "type", "lower case"),
        (_with(type="andon.machine.state_changed.vX"), "type", "<domain>.<event>.v<major>"),
        (_with(subject=..., correlationid=...), "subject", "or a correlationid"),
        (_with(subject=""), "subject", "non-empty string"),
        (_with(time="yesterday"), "time", "RFC 3339"),
        (_with(time="2026-11-24T09:14:03"), "time", "with offset"),
        (_with(time="2026-11-24"), "time", "RFC 3339"),
        (_with(plant="de-str"), "plant", "must match"),
        (_with(plant=5), "plant", "non-empty string"),
        (_with(Plant="DE-STR"), "Plant", "1-20 characters of a-z and 0-9"),
        (_with(trace_id="x"), "trace_id", "1-20 characters"),
        (_with(priority=None), "priority", "null"),
        (_with(priority=1.5), "priority", "float"),
        (_with(priority={"a": 1}), "priority", "dict"),
        (_with(data=[1, 2]), "data", "must be a JSON object, got list"),
        (_with(data=None), "data", "got null"),
        (_with(data=..., data_base64="AAAA"), "data_base64", "binary data is not supported"),
        (_with(datacontenttype="text/plain"), "datacontenttype", "must be JSON"),
        (_with(dataschema=3), "dataschema", "non-empty string"),
    ],
)
def test_invalid_envelopes_name_the_field(payload: bytes, field: str, reason: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse(payload)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value) == (
        f"{field}: {caught.value.reason}" if field else caught.value.reason
    )


def test_envelope_error_is_a_value_and_input_error() -> None:
    with pytest.raises(ValueError, match="id: is required"):
        parse(_with(id=...))
    assert issubclass(EnvelopeError, InputError)


def test_to_cloudevent_round_trips_and_follows_the_catalogue_schema() -> None:
    envelope = to_cloudevent(
        "workflow.task_escalated",
        {"task": "t-1", "to": "QAM"},
        source="/andon/DE-STR",
        event_id="0193a1c2-0000-7000-8000-000000000001",
        time=T0.astimezone(timezone(timedelta(hours=1))),
        subject="run-17",
        plant="DE-STR",
        extensions={"correlationid": "case-1", "sequence": "4"},
    )
    assert envelope["type"] == "andon.workflow.task_escalated.v1"
    assert envelope["time"] == "2026-11-24T09:14:03.120Z"
    assert envelope["dataschema"] == "urn:andon:schema:workflow.task_escalated:1"
    assert list(Draft202012Validator(SCHEMA).iter_errors(envelope)) == []
    event = parse(encode(envelope))
    assert (event.event_type, event.key, event.plant) == (
        "workflow.task_escalated",
        "run-17",
        "DE-STR",
    )
    assert event.data == {"task": "t-1", "to": "QAM"}


def test_to_cloudevent_leaves_out_empty_attributes() -> None:
    envelope = to_cloudevent(
        "approval.decided",
        {},
        source="/andon",
        event_id="e1",
        time=T0,
        version=2,
        extensions={"correlationid": "case-1"},
    )
    assert "subject" not in envelope and "plant" not in envelope
    assert envelope["type"] == "andon.approval.decided.v2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"time": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"extensions": {"data": "x"}}, "data: is not a valid extension"),
        ({"extensions": {"Bad-Name": "x"}}, "Bad-Name: is not a valid extension"),
        ({"plant": "lower"}, "plant: must match"),
        ({"subject": ""}, "subject: is required"),
    ],
)
def test_to_cloudevent_refuses_what_parse_would_refuse(
    kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"source": "/andon", "event_id": "e1", "time": T0, "subject": "s"}
    with pytest.raises(ValueError, match=message):
        to_cloudevent("a.b", {}, **(arguments | kwargs))
