"""Sparkplug B 3.0 payloads: metrics and their data types, and the protobuf wire format.

Pure: bytes in, values out and back. The wire format is written here by hand because the
host needs only the scalar part of one message type, not a protobuf runtime.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum

from andon.errors import InputError

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
