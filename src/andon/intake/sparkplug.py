"""Sparkplug B 3.0 for a host application: topic names and the session rules per edge node
(bdSeq, seq, alias tables, births and deaths); payloads are ``sparkplug_codec``'s.

Pure: facts in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from andon.errors import InputError
from andon.intake.sparkplug_codec import DataType as DataType
from andon.intake.sparkplug_codec import Metric as Metric
from andon.intake.sparkplug_codec import Payload as Payload
from andon.intake.sparkplug_codec import Value as Value
from andon.intake.sparkplug_codec import decode as decode
from andon.intake.sparkplug_codec import encode as encode

NAMESPACE = "spBv1.0"
BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
REREQUEST_EVERY = 16
"""While a rebirth is outstanding, ask again after this many dropped messages (NCMD is QoS 0)."""


# -- topics ------------------------------------------------------------------------------------


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"


@dataclass(frozen=True, slots=True)
class Topic:
    """``spBv1.0/<group>/<type>/<edge_node>[/<device>]``."""

    group: str
    message_type: MessageType
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        parts = [NAMESPACE, self.group, self.message_type, self.edge_node]
        return "/".join([*parts, self.device] if self.device else parts)


def parse_topic(text: str) -> Topic | None:
    """The topic's parts; ``None`` for a host's ``STATE`` topic. Raises :class:`InputError`."""
    parts = text.split("/")
    if len(parts) == 3 and parts[:2] == [NAMESPACE, "STATE"]:
        return None
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or not all(parts):
        raise InputError(f"not a Sparkplug B topic: {text!r}")
    try:
        kind = MessageType(parts[2])
    except ValueError:
        raise InputError(f"unknown Sparkplug message type in {text!r}") from None
    if (len(parts) == 5) != kind.startswith("D"):
        raise InputError(f"{kind} takes {'a' if kind.startswith('D') else 'no'} device: {text!r}")
    return Topic(parts[1], kind, parts[3], parts[4] if len(parts) == 5 else None)


# -- the host's session state machine ------------------------------------------------------------

NodeKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Device:
    aliases: Mapping[int, str] = field(default_factory=dict)
    online: bool = True


@dataclass(frozen=True, slots=True)
class Node:
    """What the host knows of one edge node's current Sparkplug session."""

    bd_seq: int | None = None
    next_seq: int = 0
    online: bool = False
    dead: bool = False
    """A DEATH was seen, so the next BIRTH restores connectivity."""
    awaiting_birth: bool = False
    dropped: int = 0
    last: tuple[int, int | None] | None = None
    """``(seq, timestamp)`` of the last message taken, to spot a redelivered copy."""
    aliases: Mapping[int, str] = field(default_factory=dict)
    devices: Mapping[str, Device] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Host:
    nodes: Mapping[NodeKey, Node] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Update:
    """The metrics of a BIRTH or DATA message, every alias resolved to its name."""

    topic: Topic
    birth: bool
    metrics: tuple[Metric, ...]
    timestamp: int | None
    seq: int | None
    bd_seq: int | None


@dataclass(frozen=True, slots=True)
class Rebirth:
    """Ask an edge node to publish its births again (NCMD ``Node Control/Rebirth`` = true)."""

    group: str
    edge_node: str
    reason: str

    @property
    def topic(self) -> str:
        return str(Topic(self.group, MessageType.NCMD, self.edge_node))

    def payload(self, timestamp: int) -> bytes:
        rebirth = Metric(REBIRTH, True, DataType.BOOLEAN, timestamp=timestamp)
        return encode(Payload(timestamp, (rebirth,)))


@dataclass(frozen=True, slots=True)
class Connectivity:
    """An edge node or device went offline (its data is stale) or came back. Not a breakdown."""

    group: str
    edge_node: str
    device: str | None
    online: bool
    devices: tuple[str, ...]
    """The devices whose data went stale or fresh with this change."""
    bd_seq: int | None
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class Step:
    host: Host
    updates: tuple[Update, ...] = ()
    rebirths: tuple[Rebirth, ...] = ()
    notices: tuple[Connectivity, ...] = ()


def receive(host: Host, topic: Topic, payload: Payload) -> Step:
    """What one message means for the host: the new state, metric updates, rebirth requests
    and connectivity notices. Commands from other hosts are ignored."""
    key = (topic.group, topic.edge_node)
    node = host.nodes.get(key)
    kind = topic.message_type
    if kind in (MessageType.NCMD, MessageType.DCMD):
        return Step(host)
    if kind == MessageType.NBIRTH:
        return _node_birth(host, topic, payload, node)
    if kind == MessageType.NDEATH:
        return _node_death(host, topic, payload, node)
    if node is None or not node.online or node.awaiting_birth:
        return _rebirth(host, topic, node or Node(), f"{kind} before NBIRTH")
    if payload.seq is not None and node.last == (payload.seq, payload.timestamp):
        return Step(host)  # the broker redelivered what was already taken
    if payload.seq != node.next_seq:
        return _rebirth(host, topic, node, f"seq {payload.seq} where {node.next_seq} was due")
    node = replace(node, next_seq=(node.next_seq + 1) % 256, last=(payload.seq, payload.timestamp))
    if kind == MessageType.NDATA:
        return _data(host, topic, payload, node, node.aliases)
    device_id = topic.device or ""
    device = node.devices.get(device_id)
    if kind == MessageType.DBIRTH:
        return _device_birth(host, topic, payload, node, device)
    if device is None or not device.online:
        return _rebirth(host, topic, node, f"{kind} for {device_id} before its DBIRTH")
    if kind == MessageType.DDEATH:
        devices = {**node.devices, device_id: replace(device, online=False)}
        notice = _notice(topic, node, online=False, devices=(device_id,), at=payload.timestamp)
        return Step(_put(host, topic, replace(node, devices=devices)), notices=(notice,))
    return _data(host, topic, payload, node, device.aliases)


def _node_birth(host: Host, topic: Topic, payload: Payload, old: Node | None) -> Step:
    bd_seq = _bd_seq(payload)
    seq = payload.seq or 0
    node = Node(
        bd_seq=bd_seq,
        next_seq=(seq + 1) % 256,
        online=True,
        last=(seq, payload.timestamp),
        aliases=_aliases(payload),
    )
    notices: tuple[Connectivity, ...] = ()
    if old is not None and old.dead:
        notices = (_notice(topic, node, online=True, devices=(), at=payload.timestamp),)
    update = Update(topic, True, payload.metrics, payload.timestamp, seq, bd_seq)
    return Step(_put(host, topic, node), (update,), (), notices)


def _node_death(host: Host, topic: Topic, payload: Payload, node: Node | None) -> Step:
    bd_seq = _bd_seq(payload)
    if node is None or not node.online:
        return Step(host)
    if None not in (bd_seq, node.bd_seq) and bd_seq != node.bd_seq:
        return Step(host)  # the will of an older session, delivered late
    stale = tuple(sorted(d for d, device in node.devices.items() if device.online))
    devices = {d: replace(device, online=False) for d, device in node.devices.items()}
    dead = replace(node, online=False, dead=True, awaiting_birth=False, devices=devices)
    notice = _notice(topic, node, online=False, devices=stale, at=payload.timestamp)
    return Step(_put(host, topic, dead), notices=(notice,))


def _device_birth(
    host: Host, topic: Topic, payload: Payload, node: Node, old: Device | None
) -> Step:
    device_id = topic.device or ""
    devices = {**node.devices, device_id: Device(_aliases(payload))}
    node = replace(node, devices=devices)
    notices: tuple[Connectivity, ...] = ()
    if old is not None and not old.online:
        notices = (_notice(topic, node, online=True, devices=(device_id,), at=payload.timestamp),)
    update = Update(topic, True, payload.metrics, payload.timestamp, payload.seq, node.bd_seq)
    return Step(_put(host, topic, node), (update,), (), notices)


def _data(
    host: Host, topic: Topic, payload: Payload, node: Node, aliases: Mapping[int, str]
) -> Step:
    metrics = []
    for metric in payload.metrics:
        name = metric.name or aliases.get(metric.alias if metric.alias is not None else -1)
        if name is None:
            return _rebirth(host, topic, node, f"unknown alias {metric.alias}")
        metrics.append(replace(metric, name=name))
    update = Update(topic, False, tuple(metrics), payload.timestamp, payload.seq, node.bd_seq)
    return Step(_put(host, topic, node), (update,))


def _rebirth(host: Host, topic: Topic, node: Node, reason: str) -> Step:
    """Drop the message and ask for births; while waiting, ask again only now and then."""
    if node.awaiting_birth:
        dropped = node.dropped + 1
        node = replace(node, dropped=dropped)
        if dropped % REREQUEST_EVERY:
            return Step(_put(host, topic, node))
    else:
        node = replace(node, awaiting_birth=True, dropped=0)
    request = Rebirth(topic.group, topic.edge_node, reason)
    return Step(_put(host, topic, node), rebirths=(request,))


def _put(host: Host, topic: Topic, node: Node) -> Host:
    return Host({**host.nodes, (topic.group, topic.edge_node): node})


def _notice(
    topic: Topic, node: Node, *, online: bool, devices: tuple[str, ...], at: int | None
) -> Connectivity:
    device = topic.device if topic.message_type.startswith("D") else None
    return Connectivity(topic.group, topic.edge_node, device, online, devices, node.bd_seq, at)


def _bd_seq(payload: Payload) -> int | None:
    metric = payload.metric(BDSEQ)
    value = None if metric is None else metric.value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _aliases(payload: Payload) -> dict[int, str]:
    return {m.alias: m.name for m in payload.metrics if m.alias is not None and m.name}
