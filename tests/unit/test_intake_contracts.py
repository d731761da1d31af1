"""What the adapters emit is what the standard contracts describe: an event they map would
otherwise end up as a dead letter in every plant."""

from __future__ import annotations

from datetime import UTC, datetime

from andon.contracts import catalogue
from andon.core.instances import InstanceSchema
from andon.intake import mqtt, sparkplug


def problems(event_type: str, data: object) -> list[str]:
    contract = catalogue()[event_type]
    return InstanceSchema(contract.schema).problems(data, "data")  # type: ignore[arg-type]


def test_a_connectivity_notice_fits_its_contract() -> None:
    settings = mqtt.MqttSettings()
    at = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    for notice in (
        sparkplug.Connectivity("DE-STR", "L01-EDGE", None, False, ("CNC-07", "CNC-08"), 3, None),
        sparkplug.Connectivity("DE-STR", "L01-EDGE", "CNC-07", True, ("CNC-07",), None, 1_700_000),
    ):
        event = mqtt.connectivity_event(settings, notice, at)
        assert event.event_type == "edge.connectivity_changed"
        assert problems(event.event_type, event.data) == []
    assert problems("edge.connectivity_changed", {"online": "no"}) == [
        'data: "edge_node" is a required property',
        'data.online: "no" is not of type "boolean"',
    ]
