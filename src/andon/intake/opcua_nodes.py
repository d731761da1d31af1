"""OPC UA machines as configured (nodes by namespace URI) and the mapping of what they report
to ``machine.state_changed`` data. Pure but for resolving a node on a connected server."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlparse

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node

from andon.core.json import JsonObject
from andon.errors import InputError
from andon.intake.packml import EVENT_TYPE as EVENT_TYPE
from andon.intake.packml import STATES as PACKML_STATES
from andon.intake.packml import STOPS as STOP_STATES


@dataclass(frozen=True, slots=True)
class MachineNodes:
    """One machine: its object (``node``, a path below ``Objects`` or a node id) and its PackML
    tags, as paths below that object in its namespace unless they carry their own ``nsu=``."""

    equipment_id: str
    node: str
    scope: str = ""
    level: str = ""
    state: str = "Status/StateCurrent"
    mode: str = "Status/UnitModeCurrent"
    stop_reason: str = "Admin/StopReason/ID"


@dataclass(frozen=True, slots=True)
class OpcUaSettings:
    """One server and the machines on it; the defaults suit a cell controller on loopback."""

    endpoint: str = "opc.tcp://127.0.0.1:4840/"
    machines: tuple[MachineNodes, ...] = ()
    event_type: str = ""
    """Alarm event type, a path below ``BaseEventType`` or a node id; empty: no alarms."""
    source: str = ""
    """CloudEvents source; by default ``/connectors/opcua/<host:port>``."""
    plant: str = ""
    stop_reasons: Mapping[int, str] = field(default_factory=dict)
    """Controller stop-reason ids mapped to plant codes (``2101 -> UNP-MECH``)."""
    publishing_interval: timedelta = timedelta(milliseconds=100)
    request_timeout: timedelta = timedelta(seconds=4)
    reconnect_initial: timedelta = timedelta(milliseconds=500)
    reconnect_max: timedelta = timedelta(seconds=30)

    @property
    def source_uri(self) -> str:
        return self.source or f"/connectors/opcua/{urlparse(self.endpoint).netloc}"


@dataclass(frozen=True, slots=True)
class NodeRef:
    """``nsu=<uri>;s=<id>`` (or ``i=``, ``g=``, ``b=``), or ``nsu=<uri>;path=A/B`` for browse
    names in that namespace below a start node. Without ``nsu=``, ``A/B`` is a path in the
    start node's namespace and ``i=<n>`` a standard (namespace 0) node."""

    text: str
    namespace_uri: str = ""
    identifier: str = ""
    path: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> NodeRef:
        rest = text.strip()
        if rest.startswith("ns="):
            raise InputError(f"node '{text}': name the namespace by URI (nsu=...), not by index")
        uri = ""
        if rest.startswith("nsu="):
            uri, sep, rest = rest[4:].partition(";")
            if not (uri and sep):
                raise InputError(f"node '{text}': expected nsu=<uri>;<identifier or path>")
        if rest[:2] in ("i=", "s=", "g=", "b="):
            return cls(text, uri, identifier=rest)
        path = tuple(part for part in rest.removeprefix("path=").split("/") if part)
        if not path:
            raise InputError(f"node '{text}': no identifier or browse path")
        return cls(text, uri, path=path)

    async def resolve(self, client: Client, start: Node, namespaces: list[str]) -> Node:
        """The node on this server now; raises when the namespace or node is missing."""
        if not self.namespace_uri:
            index = 0 if self.identifier else start.nodeid.NamespaceIndex
        elif self.namespace_uri in namespaces:
            index = namespaces.index(self.namespace_uri)
        else:
            raise InputError(f"node '{self.text}': namespace not on the server")
        if self.path:
            return await start.get_child([ua.QualifiedName(name, index) for name in self.path])
        node = client.get_node(ua.NodeId.from_string(f"ns={index};{self.identifier}"))
        await node.read_browse_name()  # BadNodeIdUnknown now rather than on subscribe
        return node


@dataclass(frozen=True, slots=True)
class StateReading:
    code: int
    at: datetime | None


def state_code(value: object) -> int:
    """``value`` as a PackML state code; InputError for anything but an integer 0..17."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(PACKML_STATES):
        raise InputError(f"not a PackML state code: {value!r}")
    return value


def state_name(code: object) -> str:
    return PACKML_STATES[state_code(code)]


def event_id(source: str, node: str, at: datetime) -> str:
    """Stable across reconnects and restarts: the node is named by URI, not index."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}|{node}|{at.isoformat()}"))


def machine_state(
    machine: MachineNodes,
    now: StateReading,
    before: StateReading | None,
    *,
    mode: int | None = None,
    stop_reason: int | None = None,
    stop_reasons: Mapping[int, str] | None = None,
    alarm: tuple[str, int] | None = None,
) -> JsonObject:
    """The ``machine.state_changed`` data; ``previous`` only when the state differs from the
    one seen before (an alarm may come while the state stays), ``stop_reason`` only for stops."""
    equipment: JsonObject = {"id": machine.equipment_id}
    equipment |= {k: v for k, v in (("scope", machine.scope), ("level", machine.level)) if v}
    state: JsonObject = {"model": "PackML", "current": state_name(now.code), "code": now.code}
    data: JsonObject = {"equipment": equipment, "state": state, "origin": {"protocol": "opcua"}}
    if before is not None and before.code != now.code:
        state["previous"], state["previous_code"] = state_name(before.code), before.code
        if before.at is not None and now.at is not None and now.at > before.at:
            data["previous_state_duration_s"] = round((now.at - before.at).total_seconds(), 3)
    if mode is not None:
        state["mode_code"] = mode
    if stop_reason and now.code in STOP_STATES:
        reason: JsonObject = {"id": stop_reason, "origin": "plc"}
        if code := (stop_reasons or {}).get(stop_reason):
            reason["code"] = code
        data["stop_reason"] = reason
    if alarm is not None:
        data["alarm"] = {"name": alarm[0], "severity": min(max(alarm[1], 1), 1000)}  # OPC UA scale
    return data
