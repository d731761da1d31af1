"""Sparkplug B 3.0 for a host application: the payload codec, topic names and the session rules
per edge node (bdSeq, seq, alias tables, births and deaths).

Pure: bytes and facts in, values out. The protobuf wire format is written here by hand because
the host needs only the scalar part of one message type, not a protobuf runtime.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from andon.errors import InputError

NAMESPACE = "spBv1.0"
BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
REREQUEST_EVERY = 16
"""While a rebirth is outstanding, ask again after this many dropped messages (NCMD is QoS 0)."""

_U32, _U64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF


class DataType(IntEnum):
    """Sparkplug metric datatypes (the scalar ones this host reads and writes)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    BYTES = 17


Value = int | float | bool | str | bytes | None

_SIGNED_BITS: dict[int, int] = {
    DataType.INT8: 8,
    DataType.INT16: 16,
    DataType.INT32: 32,
    DataType.INT64: 64,
}
_INT_FIELD = {DataType.INT8, DataType.INT16, DataType.INT32}  # uint32 on the wire, per the spec
_INT_FIELD |= {DataType.UINT8, DataType.UINT16, DataType.UINT32}
_LONG_FIELD = {DataType.INT64, DataType.UINT64, DataType.DATETIME}
_TEXT = {DataType.STRING, DataType.TEXT, DataType.UUID}


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric; DATA messages may carry only ``alias``, which :func:`receive` resolves."""

    name: str = ""
    value: Value = None
    datatype: int = DataType.UNKNOWN
    alias: int | None = None
    timestamp: int | None = None
    is_null: bool = False


@dataclass(frozen=True, slots=True)
class Payload:
    """A Sparkplug B payload: times are milliseconds since the epoch (UTC)."""

    timestamp: int | None = None
    metrics: tuple[Metric, ...] = ()
    seq: int | None = None

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


# -- protobuf wire format ----------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field, wire type, value)``: ints for varints, raw bytes otherwise."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
            yield number, wire, value
            continue
        if wire == 2:
            size, pos = _read_varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise InputError(f"protobuf wire type {wire} is not supported")
        if number == 0 or pos + size > len(buf):
            raise InputError("protobuf field runs past the end of the payload")
        yield number, wire, buf[pos : pos + size]
        pos += size


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(buf) and shift < 70:
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return result & _U64, pos
        shift += 7
    raise InputError("truncated or overlong protobuf varint")


# -- payloads ----------------------------------------------------------------------------------


def encode(payload: Payload) -> bytes:
    """The protobuf bytes of ``payload``."""
    out = bytearray()
    if payload.timestamp is not None:
        out += _key(1, 0) + _varint(payload.timestamp)
    for metric in payload.metrics:
        out += _len(2, _encode_metric(metric))
    if payload.seq is not None:
        out += _key(3, 0) + _varint(payload.seq)
    return bytes(out)


def _encode_metric(m: Metric) -> bytes:
    out = bytearray()
    if m.name:
        out += _len(1, m.name.encode())
    if m.alias is not None:
        out += _key(2, 0) + _varint(m.alias)
    if m.timestamp is not None:
        out += _key(3, 0) + _varint(m.timestamp)
    out += _key(4, 0) + _varint(int(m.datatype))
    if m.is_null or m.value is None:
        return bytes(out + _key(7, 0) + _varint(1))
    return bytes(out + _encode_value(DataType(m.datatype), m.value))


def _encode_value(datatype: DataType, value: Value) -> bytes:
    if datatype == DataType.BOOLEAN and isinstance(value, bool):
        return _key(14, 0) + _varint(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        if datatype in _INT_FIELD:
            return _key(10, 0) + _varint(value & _U32)
        if datatype in _LONG_FIELD:
            return _key(11, 0) + _varint(value & _U64)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if datatype == DataType.FLOAT:
            return _key(12, 5) + struct.pack("<f", value)
        if datatype == DataType.DOUBLE:
            return _key(13, 1) + struct.pack("<d", value)
    if isinstance(value, str) and datatype in _TEXT:
        return _len(15, value.encode())
    if isinstance(value, bytes) and datatype == DataType.BYTES:
        return _len(16, value)
    raise ValueError(f"cannot encode {value!r} as Sparkplug {datatype.name}")


def decode(data: bytes) -> Payload:
    """The payload in ``data``; unknown and non-scalar fields are skipped. Raises
    :class:`InputError` for bytes that are not a Sparkplug B payload."""
    timestamp = seq = None
    metrics: list[Metric] = []
    for number, wire, value in _fields(data):
        if number == 1 and isinstance(value, int):
            timestamp = value
        elif number == 2 and wire == 2 and isinstance(value, bytes):
            metrics.append(_decode_metric(value))
        elif number == 3 and isinstance(value, int):
            seq = value
    return Payload(timestamp, tuple(metrics), seq)


def _decode_metric(data: bytes) -> Metric:
    found: dict[int, int | bytes] = {}
    for number, _wire, value in _fields(data):
        found[number] = value
    name = found.get(1, b"")
    datatype = found.get(4, 0)
    alias, timestamp = found.get(2), found.get(3)
    if not isinstance(name, bytes) or not isinstance(datatype, int):
        raise InputError("metric name or datatype has the wrong wire type")
    if not (isinstance(alias, int | None) and isinstance(timestamp, int | None)):
        raise InputError("metric alias or timestamp has the wrong wire type")
    is_null = found.get(7) == 1
    scalar = None if is_null else _decode_value(found, datatype)
    return Metric(_utf8(name), scalar, datatype, alias, timestamp, is_null)


def _decode_value(found: Mapping[int, int | bytes], datatype: int) -> Value:
    for number in (10, 11, 14):
        raw = found.get(number)
        if isinstance(raw, int):
            if number == 14:
                return bool(raw)
            raw &= _U32 if number == 10 else _U64
            bits = _SIGNED_BITS.get(datatype)
            if bits is not None:  # two's complement in an unsigned field, per the spec
                raw &= (1 << bits) - 1
                raw -= (raw >> (bits - 1)) << bits
            return raw
    for number, fmt in ((12, "<f"), (13, "<d")):
        raw = found.get(number)
        if isinstance(raw, bytes):
            return float(struct.unpack(fmt, raw)[0])
    text, blob = found.get(15), found.get(16)
    if isinstance(text, bytes):
        return _utf8(text)
    return blob if isinstance(blob, bytes) else None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise InputError(f"metric text is not UTF-8 ({exc.reason})") from exc


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
