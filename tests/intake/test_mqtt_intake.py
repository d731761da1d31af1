"""The MQTT intake against a real Mosquitto, fed by the simulated Sparkplug edge node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import jsonschema
import pytest
from mosquitto_server import Mosquitto

from andon.contracts import catalogue
from andon.core.json import JsonValue
from andon.errors import InputError
from andon.intake import InboundEvent, cloudevents, packml
from andon.intake.mqtt import MqttIntake, MqttSettings
from andon.tools.simulators.sparkplug_edge import EdgeNodeSim

HELD = 11


def dig(event: InboundEvent, *keys: str) -> JsonValue:
    """``event.data[k1][k2]…``, None where a key is missing."""
    value: JsonValue = event.data
    for key in keys:
        assert isinstance(value, dict), value
        value = value.get(key)
    return value


@dataclass
class Inbox:
    """Commits on (source, event_id) like the real inbox; ``fail`` decides per call whether
    to raise before (or after) committing."""

    fail: Callable[[int, InboundEvent], Exception | None] = lambda n, e: None
    fail_after_commit: bool = False
    events: list[InboundEvent] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: InboundEvent) -> bool:
        with self._lock:
            self.calls.append(event.event_id)
            error = self.fail(len(self.calls), event)
            if error is not None and not self.fail_after_commit:
                raise error
            fresh = all(
                (e.source, e.event_id) != (event.source, event.event_id) for e in self.events
            )
            if fresh:
                self.events.append(event)
            if error is not None:
                raise error
            return fresh

    def of(self, event_type: str) -> list[InboundEvent]:
        return [e for e in self.events if e.event_type == event_type]


def settings(broker: Mosquitto, **changes: Any) -> MqttSettings:
    base = MqttSettings(
        host=broker.host,
        port=broker.port,
        client_id=f"andon-test-{uuid.uuid4().hex[:8]}",
        tick=timedelta(seconds=0.05),
        retry_wait=timedelta(seconds=0.05),
        reconnect_wait=timedelta(seconds=0.1),
        scope_template="ACME.{group}.MACH.{edge_node}.{device}",
        rules=packml.Rules(
            min_stop=timedelta(seconds=0.5),
            merge_gap=timedelta(seconds=0.2),
            stop_reasons={2101: "UNP-MECH"},
        ),
    )
    return replace(base, **changes)


@contextlib.asynccontextmanager
async def running(
    config: MqttSettings, sink: Inbox, reject: Callable[[str, bytes, str], None] | None = None
) -> AsyncIterator[MqttIntake]:
    stop = asyncio.Event()
    intake = MqttIntake(config, sink, reject)
    task = asyncio.create_task(intake.run(stop))
    await asyncio.wait_for(intake.connected.wait(), 5)
    try:
        yield intake
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, 30))


async def publish(broker: Mosquitto, topic: str, payload: bytes, qos: int = 1) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=qos)


def cloud_event(n: int = 1) -> bytes:
    envelope = cloudevents.to_cloudevent(
        "machine.state_changed",
        {"equipment": {"id": "CNC-07"}, "state": {"model": "PackML", "current": "Held"}},
        source="/connectors/opcua/DE-STR/edge-L01",
        event_id=f"evt-{n}",
        time=datetime(2026, 11, 24, 9, 14, tzinfo=UTC),
        subject="ACME.DE-STR.MACH.L01.CNC-07",
    )
    return cloudevents.encode(envelope)


def test_a_held_machine_reaches_the_sink_as_one_stop_and_its_end(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with (
            running(settings(mosquitto), inbox) as intake,
            EdgeNodeSim(mosquitto.host, mosquitto.port) as sim,
        ):
            await sim.set_state(HELD, stop_reason=2101)  # a micro-stop first: counted only
            await asyncio.sleep(0.05)
            await sim.set_state(packml.EXECUTE, stop_reason=0)
            await asyncio.sleep(0.4)
            await sim.set_state(HELD, stop_reason=2101)
            await until(lambda: len(inbox.events) == 1)
            await sim.set_state(packml.EXECUTE, stop_reason=0)
            await until(lambda: len(inbox.events) == 2)
            machine = intake.state.debounce.machines["DE-STR/L01-EDGE/CNC-07"]
            assert machine.micro_stops == 1
        stop, resume = inbox.of("machine.state_changed")
        assert stop.key == "CNC-07" and stop.plant == "DE-STR"
        assert stop.data["equipment"]["scope"] == "ACME.DE-STR.MACH.L01-EDGE.CNC-07"
        assert stop.source == "/connectors/sparkplug/DE-STR/L01-EDGE"
        assert dig(stop, "state", "current") == "Held"
        assert dig(stop, "stop_reason") == {"id": 2101, "origin": "plc", "code": "UNP-MECH"}
        assert dig(stop, "origin") == {"protocol": "sparkplug", "seq": 4}
        assert dig(resume, "state", "current") == "Execute"
        for event in (stop, resume):
            jsonschema.validate(event.data, catalogue()["machine.state_changed"].schema)

    run(scenario())


def test_a_failing_sink_is_retried_and_the_ack_waits_for_it(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        config = settings(mosquitto)
        inbox = Inbox(fail=lambda n, e: RuntimeError("database restarting") if n <= 2 else None)
        async with running(config, inbox):
            await publish(mosquitto, "andon/events/DE-STR", cloud_event())
            await until(lambda: len(inbox.events) == 1)
        assert inbox.calls == ["evt-1"] * 3
        again = Inbox()
        async with running(config, again):  # same session: acked, so nothing comes back
            await asyncio.sleep(0.3)
        assert again.calls == []

    run(scenario())


@pytest.mark.parametrize("protocol", [5, 4])
def test_an_unacked_message_is_redelivered_by_the_broker(
    mosquitto: Mosquitto, protocol: int
) -> None:
    """Committed, then the process died before the ack: the persistent session redelivers it
    to the next run, and the inbox drops the copy."""

    async def scenario() -> None:
        config = settings(mosquitto, protocol=protocol)
        inbox = Inbox(
            fail=lambda n, e: RuntimeError("killed before the ack"), fail_after_commit=True
        )
        async with running(config, inbox):
            await publish(mosquitto, "andon/events/DE-STR", cloud_event())
            await until(lambda: len(inbox.calls) >= 1)
        inbox.fail = lambda n, e: None
        calls = len(inbox.calls)
        async with running(config, inbox):
            await until(lambda: len(inbox.calls) == calls + 1)
        assert [e.event_id for e in inbox.events] == ["evt-1"]
        async with running(config, inbox):
            await asyncio.sleep(0.3)
        assert len(inbox.calls) == calls + 1

    run(scenario())


def test_a_seq_gap_brings_a_rebirth_whose_births_carry_the_stop(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with (
            running(settings(mosquitto), inbox),
            EdgeNodeSim(mosquitto.host, mosquitto.port) as sim,
        ):
            await sim.produce(10)
            sim.skip_seq()  # a DDATA lost on the way
            await sim.set_state(HELD, stop_reason=2101)  # dropped: it follows the gap
            await until(lambda: sim.rebirths == 1)
            await until(lambda: len(inbox.events) == 1)
            assert sim.rebirths == 1
        (stop,) = inbox.of("machine.state_changed")
        assert dig(stop, "stop_reason", "id") == 2101
        assert dig(stop, "counters") == {"processed": 10, "defective": 0}
        assert dig(stop, "origin", "seq") == 1  # from the DBIRTH

    run(scenario())


def test_a_host_that_starts_late_asks_for_births(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with EdgeNodeSim(mosquitto.host, mosquitto.port) as sim:
            async with running(settings(mosquitto), inbox):
                await sim.set_state(HELD, stop_reason=2101)  # DDATA from a node never seen born
                await until(lambda: len(inbox.events) == 1)
            assert sim.rebirths == 1
        assert dig(inbox.events[0], "state", "current") == "Held"

    run(scenario())


def test_a_dropped_edge_is_a_connectivity_event_not_a_breakdown(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        config = settings(mosquitto, rules=packml.Rules(min_stop=timedelta(seconds=0.6)))
        async with running(config, inbox):
            sim = EdgeNodeSim(mosquitto.host, mosquitto.port)
            await sim.start()
            await sim.set_state(HELD, stop_reason=2101)
            await sim.crash()  # the broker publishes the NDEATH will
            await until(lambda: len(inbox.events) == 1)
            await asyncio.sleep(0.8)  # the stop would be due now, but its data is stale
            assert inbox.of("machine.state_changed") == []
            await sim.reconnect()  # NBIRTH with the next bdSeq; DBIRTH: still Held
            await until(lambda: len(inbox.events) == 3)
            await sim.stop()  # on purpose: NDEATH published by the node itself
            await until(lambda: len(inbox.events) == 4)
        offline, online, stop, leaving = inbox.events
        assert (offline.event_type, offline.key) == ("edge.connectivity_changed", "DE-STR.L01-EDGE")
        assert offline.data == {
            "edge_node": {"group": "DE-STR", "id": "L01-EDGE"},
            "online": False,
            "devices": ["CNC-07"],
            "origin": {"protocol": "sparkplug", "bd_seq": 0},
        }
        assert dig(online, "online") is True and dig(online, "origin", "bd_seq") == 1
        assert stop.event_type == "machine.state_changed"
        assert dig(leaving, "online") is False and leaving.event_id != offline.event_id

    run(scenario())


def test_bad_messages_are_rejected_and_acked_and_the_loop_goes_on(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        rejected: list[tuple[str, bytes, str]] = []
        invalid = InputError("data does not match the contract")
        inbox = Inbox(fail=lambda n, e: invalid if e.event_id == "evt-2" else None)
        config = settings(mosquitto)
        async with running(config, inbox, lambda *args: rejected.append(args)):
            await publish(mosquitto, "spBv1.0/DE-STR/DDATA/L01-EDGE/CNC-07", b"\x12\x05\x0a")
            await publish(mosquitto, "spBv1.0/DE-STR", b"")
            await publish(mosquitto, "andon/events/DE-STR", b"{not json")
            await publish(mosquitto, "andon/events/DE-STR", cloud_event(2))
            await publish(mosquitto, "andon/events/DE-STR", cloud_event(3))
            await until(lambda: len(inbox.events) == 1)
        assert [e.event_id for e in inbox.events] == ["evt-3"]
        topics = [topic for topic, _, _ in rejected]
        assert topics == [
            "spBv1.0/DE-STR/DDATA/L01-EDGE/CNC-07",
            "spBv1.0/DE-STR",
            "andon/events/DE-STR",
            "andon/events/DE-STR",
        ]
        assert "evt-2: data does not match the contract" in rejected[3][2]
        again = Inbox()
        async with running(config, again):
            await asyncio.sleep(0.3)
        assert again.calls == []

    run(scenario())


def test_the_intake_reconnects_after_a_broker_restart(mosquitto: Mosquitto) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        async with running(settings(mosquitto, host_id="andon-1"), inbox) as intake:
            mosquitto.stop()
            await until(lambda: not intake.connected.is_set())
            mosquitto.start()
            await asyncio.wait_for(intake.connected.wait(), 5)
            await publish(mosquitto, "andon/events/DE-STR", cloud_event())
            await until(lambda: len(inbox.events) == 1)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.subscribe("spBv1.0/STATE/andon-1", qos=1)
            message = await asyncio.wait_for(anext(aiter(client.messages)), 5)
        assert json.loads(message.payload)["online"] is False

    run(scenario())
