"""OPC UA intake and the acknowledge action against the PackML simulator (a real server).

The adapter runs on its own loop in a thread, like under the CLI; the sink collects what it
is given and drops repeated ids, as the inbox does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from importlib import resources
from typing import Any

import jsonschema
import pytest
from opcua_server import DECOY_NAMESPACE, OpcUaMachine

from andon.actions.registry import ActionCall
from andon.errors import ActionError, InputError
from andon.intake import InboundEvent

EXECUTE, HELD, ABORTED = 6, 11, 9
SCHEMA = json.loads(
    resources.files("andon.contracts")
    .joinpath("catalogue", "machine.state_changed.json")
    .read_text(encoding="utf-8")
)


class CollectingSink:
    """Commits by appending; a repeated (source, id) is a duplicate, as in the inbox."""

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []
        self.duplicates = 0
        self._seen: set[tuple[str, str]] = set()
        self._changed = threading.Condition()

    def __call__(self, event: InboundEvent) -> bool:
        with self._changed:
            if (event.source, event.event_id) in self._seen:
                self.duplicates += 1
                return False
            self._seen.add((event.source, event.event_id))
            self.events.append(event)
            self._changed.notify_all()
            return True

    def wait_for(
        self, match: Callable[[InboundEvent], bool], timeout: float = 10.0
    ) -> InboundEvent:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self.events if match(e)]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {self.events!r}")
                self._changed.wait(left)


def code(value: int, machine: str | None = None) -> Callable[[InboundEvent], bool]:
    def match(event: InboundEvent) -> bool:
        data: Any = event.data
        return data["state"]["code"] == value and (machine is None or event.key == machine)

    return match


def settings(sim: OpcUaMachine, *machines: str, **overrides: Any) -> Any:
    from andon.intake.opcua_nodes import MachineNodes, OpcUaSettings

    nodes = tuple(
        MachineNodes(m, sim.node(m), scope=f"ACME.DE-STR.MACH.L01.{m}", level="WorkUnit")
        for m in machines
    )
    base: dict[str, Any] = {
        "endpoint": sim.endpoint,
        "machines": nodes,
        "event_type": f"nsu={sim.namespace};path=MachineDowntimeEventType",
        "plant": "DE-STR",
        "stop_reasons": {2101: "UNP-MECH"},
        "reconnect_initial": timedelta(milliseconds=100),
        "reconnect_max": timedelta(milliseconds=500),
    }
    return OpcUaSettings(**(base | overrides))


@contextmanager
def intake(config: Any, sink: CollectingSink, reject: Any = None) -> Iterator[None]:
    """The adapter on its own event loop in a thread, stopped (and joined) on exit."""
    from andon.intake.opcua import run_opcua_intake

    started = threading.Event()
    handles: dict[str, Any] = {}
    failure: list[BaseException] = []

    async def main() -> None:
        handles["loop"], handles["stop"] = asyncio.get_running_loop(), asyncio.Event()
        started.set()
        await run_opcua_intake(config, sink, handles["stop"], reject)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, name="opcua-intake", daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield
    finally:
        handles["loop"].call_soon_threadsafe(handles["stop"].set)
        thread.join(15)
        assert not thread.is_alive(), "the intake did not stop"
        assert not failure, failure


def valid(event: InboundEvent) -> dict[str, Any]:
    jsonschema.Draft202012Validator(SCHEMA).validate(event.data)
    assert isinstance(event.data, dict)
    return event.data


def test_state_change_with_stop_reason_arrives_as_machine_state_changed(opcua_machine):
    sink = CollectingSink()
    opcua_machine.set_state("CNC-STATE", EXECUTE)
    with intake(settings(opcua_machine, "CNC-STATE"), sink):
        initial = sink.wait_for(code(EXECUTE))
        opcua_machine.set_state("CNC-STATE", HELD, stop_reason=2101)
        held = sink.wait_for(code(HELD))

    assert valid(initial)["state"] == {
        "model": "PackML",
        "current": "Execute",
        "code": 6,
        "mode_code": 1,
    }
    data = valid(held)
    assert data.pop("previous_state_duration_s") >= 0
    assert data == {
        "equipment": {"id": "CNC-STATE", "scope": "ACME.DE-STR.MACH.L01.CNC-STATE", "level": "WorkUnit"},
        "state": {
            "model": "PackML", "current": "Held", "code": 11,
            "previous": "Execute", "previous_code": 6, "mode_code": 1,
        },
        "stop_reason": {"id": 2101, "code": "UNP-MECH", "origin": "plc"},
        "origin": {"protocol": "opcua"},
    }  # fmt: skip
    assert (held.event_type, held.key, held.plant) == (
        "machine.state_changed",
        "CNC-STATE",
        "DE-STR",
    )
    assert held.source == f"/connectors/opcua/{opcua_machine.endpoint.split('/')[2]}"
    assert held.event_id != initial.event_id


def test_alarm_event_arrives_with_its_severity(opcua_machine):
    sink = CollectingSink()
    opcua_machine.set_state("CNC-ALARM", EXECUTE)
    with intake(settings(opcua_machine, "CNC-ALARM"), sink):
        sink.wait_for(code(EXECUTE))
        opcua_machine.set_state("CNC-ALARM", ABORTED, stop_reason=3)
        opcua_machine.alarm("CNC-ALARM", "SPINDLE_OVL", 800, "spindle overload")
        alarm = sink.wait_for(lambda e: "alarm" in e.data)  # type: ignore[operator]

    data = valid(alarm)
    assert data["alarm"] == {"name": "SPINDLE_OVL", "severity": 800}
    assert data["state"] == {"model": "PackML", "current": "Aborted", "code": 9}
    assert data["equipment"]["id"] == "CNC-ALARM"


def test_namespace_is_resolved_by_uri_not_assumed(opcua_machine):
    from andon.intake.opcua_nodes import MachineNodes, NodeRef

    assert opcua_machine.cell.namespace_index == 3  # the decoy took index 2
    assert opcua_machine.namespace != DECOY_NAMESPACE
    with pytest.raises(InputError, match="by URI"):
        NodeRef.parse("ns=2;s=CNC-NS")
    by_id = MachineNodes("CNC-NS", f"nsu={opcua_machine.namespace};s=CNC-NS")
    missing = MachineNodes("CNC-GONE", "nsu=urn:andon:test:nowhere;path=CNC-GONE")
    sink = CollectingSink()
    with intake(settings(opcua_machine, machines=(missing, by_id)), sink):
        opcua_machine.set_state("CNC-NS", HELD, stop_reason=7)
        held = sink.wait_for(code(HELD, "CNC-NS"))
    assert valid(held)["stop_reason"] == {"id": 7, "origin": "plc"}
    assert {e.key for e in sink.events} == {"CNC-NS"}


def test_intake_reconnects_after_server_restart_and_reads_what_it_missed(opcua_machine):
    sink = CollectingSink()
    opcua_machine.set_state("CNC-RESTART", EXECUTE)
    with intake(settings(opcua_machine, "CNC-RESTART"), sink):
        sink.wait_for(code(EXECUTE))
        opcua_machine.stop()
        try:
            time.sleep(1.0)  # several failed reconnects, backing off
            opcua_machine.set_state("CNC-RESTART", HELD, stop_reason=2101)  # while away
        finally:
            opcua_machine.start()
        missed = sink.wait_for(code(HELD))
        opcua_machine.set_state("CNC-RESTART", EXECUTE)
        resumed = sink.wait_for(
            lambda e: e.event_id != sink.events[0].event_id and code(EXECUTE)(e)
        )

    assert valid(missed)["state"]["previous"] == "Execute"
    assert valid(resumed)["state"]["previous"] == "Held"
    assert [e.data["state"]["code"] for e in sink.events] == [EXECUTE, HELD, EXECUTE]  # type: ignore[call-overload,index]


def test_the_same_change_seen_again_gets_the_same_id(opcua_machine):
    opcua_machine.set_state("CNC-IDS", HELD, stop_reason=2101)
    first, second = CollectingSink(), CollectingSink()
    for sink in (first, second):  # two adapter lifetimes: nothing shared but the server
        with intake(settings(opcua_machine, "CNC-IDS"), sink):
            sink.wait_for(code(HELD))
    assert first.events[0].event_id == second.events[0].event_id


def test_a_bad_value_is_rejected_and_the_loop_goes_on(opcua_machine):
    sink, rejected = CollectingSink(), []
    opcua_machine.set_state("CNC-BAD", EXECUTE)
    with intake(settings(opcua_machine, "CNC-BAD"), sink, lambda *r: rejected.append(r)):
        sink.wait_for(code(EXECUTE))
        opcua_machine.set_state("CNC-BAD", 42)
        opcua_machine.set_state("CNC-BAD", HELD)
        held = sink.wait_for(code(HELD))

    assert valid(held)["state"]["previous"] == "Execute"
    [(where, payload, reason)] = rejected
    assert where.startswith(f"nsu={opcua_machine.namespace};path=CNC-BAD")
    assert payload["value"] == 42
    assert "PackML state" in reason


def ack_call(**payload: Any) -> ActionCall:
    return ActionCall("run-1", "ack", 1, "run-1:4", payload, timeout_s=10)


def test_acknowledge_action_reaches_the_machine(opcua_machine):
    from andon.actions.opcua import acknowledge_stop

    opcua_machine.set_state("CNC-ACK", HELD, stop_reason=2101)
    call = ack_call(machine=opcua_machine.node("CNC-ACK"), by="u-2001", comment="WO-DE-004512")

    result = acknowledge_stop(call, opcua_machine.endpoint)

    assert result == {
        "acknowledged": True,
        "machine": call.input["machine"],
        "method": "AcknowledgeStop",
    }
    [ack] = [a for a in opcua_machine.acknowledgements if a.machine == "CNC-ACK"]
    assert (ack.by, ack.comment, ack.stop_reason) == ("u-2001", "WO-DE-004512", 2101)


def test_acknowledge_action_failures_say_whether_to_retry(opcua_machine):
    from andon.actions.opcua import acknowledge_stop

    node = opcua_machine.node
    with pytest.raises(ActionError, match="BadNoMatch") as bad_node:
        acknowledge_stop(ack_call(machine=node("CNC-NOPE")), opcua_machine.endpoint)
    assert bad_node.value.permanent
    opcua_machine.deny_acknowledge("CNC-ACK")
    try:
        with pytest.raises(ActionError, match="BadUserAccessDenied") as denied:
            acknowledge_stop(ack_call(machine=node("CNC-ACK")), opcua_machine.endpoint)
        assert denied.value.permanent
    finally:
        opcua_machine.deny_acknowledge("CNC-ACK", deny=False)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"opc.tcp://127.0.0.1:{probe.getsockname()[1]}/"
    with pytest.raises(ActionError, match="unreachable") as down:
        acknowledge_stop(ack_call(machine=node("CNC-ACK")), closed)
    assert not down.value.permanent
    with pytest.raises(ActionError, match="endpoint") as no_endpoint:
        acknowledge_stop(ack_call(machine=node("CNC-ACK")))
    assert no_endpoint.value.permanent
