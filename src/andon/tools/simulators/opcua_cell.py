"""A simulated PackML machine cell served over OPC UA, for tests and the demo.

Each machine is an object under ``Objects`` with the PackML tags Andon reads
(``Status/StateCurrent``, ``Status/UnitModeCurrent``, ``Admin/StopReason/ID``), an
``AcknowledgeStop`` method, and alarms raised as ``MachineDowntimeEventType`` events from the
Server object. Run it with ``python -m andon.tools.simulators.opcua_cell --port 4840``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.event_generator import EventGenerator
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes

NAMESPACE = "urn:andon:sim:packml"
EVENT_TYPE = "MachineDowntimeEventType"
ACKNOWLEDGE = "AcknowledgeStop"
EXECUTE, HELD = 6, 11

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One ``AcknowledgeStop`` call the machine accepted."""

    machine: str
    by: str
    comment: str
    stop_reason: int
    at: datetime


@dataclass(frozen=True, slots=True)
class _Machine:
    node: Node
    state: Node
    mode: Node
    stop_reason: Node
    ack_at: Node


class SimulatedCell:
    """The server and its machines; ``init()`` is slow (~4-8 s: the standard address
    space), ``stop()``/``start()`` are instant and keep every value, so a restart looks to
    clients like a machine that went away and came back."""

    def __init__(
        self,
        endpoint: str,
        machines: Sequence[str],
        *,
        namespace: str = NAMESPACE,
        extra_namespaces: Sequence[str] = (),
    ) -> None:
        self.endpoint = endpoint
        self.namespace = namespace
        self.namespace_index = 0
        self.acknowledgements: list[Acknowledgement] = []
        self._names = tuple(machines)
        self._extra = tuple(extra_namespaces)
        self._server = Server()
        self._machines: dict[str, _Machine] = {}
        self._denied: set[str] = set()
        self._alarms: EventGenerator | None = None
        self._alarm_lock = asyncio.Lock()

    async def init(self) -> None:
        """Build the address space; extra namespaces are registered first, so clients must
        resolve ours by URI rather than assume index 2."""
        server = self._server
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Andon PackML simulator")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        for uri in self._extra:
            await server.register_namespace(uri)
        idx = self.namespace_index = await server.register_namespace(self.namespace)
        event_type = await server.create_custom_event_type(
            idx,
            EVENT_TYPE,
            ObjectIds.BaseEventType,
            [("ReasonCode", ua.VariantType.String), ("PackMLState", ua.VariantType.Int32)],
        )
        self._alarms = await server.get_event_generator(event_type)
        for name in self._names:
            self._machines[name] = await self._add_machine(name)

    async def _add_machine(self, name: str) -> _Machine:
        idx = self.namespace_index

        def ids(path: str) -> tuple[str, str]:
            """String node id ``<machine>.<path>``, browse name its last part."""
            return f"ns={idx};s={name}.{path}", f"{idx}:{path.rsplit('.')[-1]}"

        async def child(parent: Node, path: str) -> Node:
            return await parent.add_object(*ids(path))

        async def tag(parent: Node, path: str, value: Any, kind: ua.VariantType) -> Node:
            return await parent.add_variable(*ids(path), value, kind)

        machine = await self._server.nodes.objects.add_object(f"ns={idx};s={name}", f"{idx}:{name}")
        status, admin = await child(machine, "Status"), await child(machine, "Admin")
        stop = await child(admin, "Admin.StopReason")
        made = _Machine(
            node=machine,
            state=await tag(status, "Status.StateCurrent", EXECUTE, ua.VariantType.Int32),
            mode=await tag(status, "Status.UnitModeCurrent", 1, ua.VariantType.Int32),
            stop_reason=await tag(stop, "Admin.StopReason.ID", 0, ua.VariantType.Int32),
            ack_at=await tag(stop, "Admin.StopReason.AckDateTime", None, ua.VariantType.DateTime),
        )
        string = ua.VariantType.String
        await machine.add_method(
            *ids(ACKNOWLEDGE),
            self._acknowledge_handler(name),
            [string, string],
            [],
        )
        return made

    def _acknowledge_handler(self, name: str) -> Any:
        """A raw method callback: returning a StatusCode is how asyncua answers with a
        specific Bad code (a raised exception always becomes BadUnexpectedError)."""

        async def acknowledge(_parent: ua.NodeId, *args: ua.Variant) -> Any:
            if name in self._denied:
                return _bad(StatusCodes.BadUserAccessDenied)
            values = [arg.Value for arg in args]
            if len(values) != 2 or not all(isinstance(v, str) for v in values):
                return _bad(StatusCodes.BadInvalidArgument)
            machine = self._machines[name]
            now = datetime.now(UTC)
            reason = int(await machine.stop_reason.read_value())
            await machine.ack_at.write_value(_stamped(now, ua.VariantType.DateTime, now))
            self.acknowledgements.append(Acknowledgement(name, values[0], values[1], reason, now))
            return []

        return acknowledge

    @property
    def machines(self) -> tuple[str, ...]:
        return self._names

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    def deny_acknowledge(self, machine: str, deny: bool = True) -> None:
        """Make ``AcknowledgeStop`` answer BadUserAccessDenied (a locked HMI, say)."""
        (self._denied.add if deny else self._denied.discard)(machine)

    async def state(self, machine: str) -> int:
        return int(await self._machines[machine].state.read_value())

    async def set_state(self, machine: str, code: int, stop_reason: int | None = None) -> None:
        """Move to PackML state ``code``; the stop reason is written first, as a PLC does, so
        a client reading it on the state change sees the matching reason."""
        m = self._machines[machine]
        now = datetime.now(UTC)
        await m.stop_reason.write_value(_stamped(stop_reason or 0, ua.VariantType.Int32, now))
        await m.state.write_value(_stamped(code, ua.VariantType.Int32, now))

    async def set_mode(self, machine: str, mode: int) -> None:
        now = datetime.now(UTC)
        await self._machines[machine].mode.write_value(_stamped(mode, ua.VariantType.Int32, now))

    async def alarm(self, machine: str, name: str, severity: int, message: str = "") -> None:
        """Raise a ``MachineDowntimeEventType`` event carrying the machine's current state."""
        assert self._alarms is not None, "call init() first"
        m = self._machines[machine]
        state = int(await m.state.read_value())
        async with self._alarm_lock:  # one generator, so its fields must not interleave
            event = self._alarms.event
            event.SourceNode, event.SourceName = m.node.nodeid, machine
            event.ReasonCode, event.PackMLState, event.Severity = name, state, severity
            await self._alarms.trigger(message=message or name)


def _stamped(value: Any, kind: ua.VariantType, at: datetime) -> ua.DataValue:
    """A value with its source timestamp: asyncua leaves it empty otherwise, and clients
    key their event ids on it."""
    stamp = cast(ua.DateTime, at)  # asyncua types it as its own datetime subclass
    return ua.DataValue(ua.Variant(value, kind), SourceTimestamp=stamp, ServerTimestamp=stamp)


def _bad(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


async def _demo(cell: SimulatedCell, cycle_s: float) -> None:
    """Each machine in turn: Execute, then Held with a mechanical stop and an alarm."""
    await cell.init()
    await cell.start()
    log.info("simulator on %s, namespace %s", cell.endpoint, cell.namespace)
    while cycle_s > 0:
        for machine in cell.machines:
            await asyncio.sleep(cycle_s)
            await cell.set_state(machine, HELD, stop_reason=2101)
            await cell.alarm(machine, "SPINDLE_OVL", 800, "spindle overload")
            await asyncio.sleep(cycle_s)
            await cell.set_state(machine, EXECUTE)
    await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4840)
    parser.add_argument("--machines", default="CNC-07,CNC-08")
    parser.add_argument("--cycle", type=float, default=30.0, help="seconds per state; 0: static")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    machines = [m.strip() for m in args.machines.split(",") if m.strip()]
    cell = SimulatedCell(f"opc.tcp://{args.host}:{args.port}/andon/", machines)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(cell, args.cycle))


if __name__ == "__main__":
    main()
