"""Sparkplug B: the hand-written protobuf codec, topic names and the host's session rules."""

from __future__ import annotations

import struct

import pytest

from andon.errors import InputError
from andon.intake import sparkplug, sparkplug_codec
from andon.intake.sparkplug import (
    BDSEQ,
    REBIRTH,
    Connectivity,
    DataType,
    Host,
    MessageType,
    Metric,
    Payload,
    Step,
    Topic,
)

T = 1_795_000_000_000
NODE = Topic("DE-STR", MessageType.NBIRTH, "L01-EDGE")


def topic(kind: MessageType, device: str | None = "CNC-07") -> Topic:
    return Topic("DE-STR", kind, "L01-EDGE", device if kind.startswith("D") else None)


# -- codec ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.INT8, -128),
        (DataType.INT8, 127),
        (DataType.INT16, -2),
        (DataType.INT32, -2_147_483_648),
        (DataType.INT32, 11),
        (DataType.INT64, -1),
        (DataType.INT64, 2**63 - 1),
        (DataType.UINT8, 255),
        (DataType.UINT16, 65_535),
        (DataType.UINT32, 2**32 - 1),
        (DataType.UINT64, 2**64 - 1),
        (DataType.DATETIME, T),
        (DataType.FLOAT, 1.5),
        (DataType.DOUBLE, 0.1),
        (DataType.BOOLEAN, True),
        (DataType.BOOLEAN, False),
        (DataType.STRING, "Spindel überlastet"),
        (DataType.TEXT, ""),
        (DataType.UUID, "0193a1c2-7d4e-7a10-9b2f-5c1e2d3f4a5b"),
        (DataType.BYTES, b"\x00\xff"),
    ],
)
def test_scalar_round_trip(datatype: DataType, value: sparkplug.Value) -> None:
    metric = Metric("m", value, datatype, alias=7, timestamp=T)
    payload = Payload(T, (metric,), 42)
    assert sparkplug.decode(sparkplug.encode(payload)) == payload


def test_null_and_alias_only_metrics_round_trip() -> None:
    payload = Payload(
        T,
        (
            Metric("Admin/StopReason/ID", None, DataType.INT32, is_null=True),
            Metric(value=11, datatype=DataType.INT32, alias=1, timestamp=T),
        ),
        255,
    )
    assert sparkplug.decode(sparkplug.encode(payload)) == payload


def test_wire_bytes_follow_the_sparkplug_field_numbers() -> None:
    metric = Metric("a", True, DataType.BOOLEAN, alias=1)
    # payload: timestamp(1)=1, metrics(2)={name(1) "a", alias(2)=1, datatype(4)=11, boolean(14)=1}, seq(3)=0
    expected = bytes([0x08, 0x01, 0x12, 0x09, 0x0A, 0x01, 0x61, 0x10, 0x01, 0x20, 0x0B, 0x70, 0x01])
    assert sparkplug.encode(Payload(1, (metric,), 0)) == expected + bytes([0x18, 0x00])


def test_signed_ints_decode_from_either_width() -> None:
    # Int8 -1 as some encoders write it (0xFF) and as the spec's uint32 cast (0xFFFFFFFF)
    for raw in (0xFF, 0xFFFF_FFFF):
        varint = sparkplug_codec._varint(raw)
        metric = bytes([0x0A, 0x01, 0x78, 0x20, 0x01, 0x50]) + varint
        data = bytes([0x12, len(metric)]) + metric
        assert sparkplug.decode(data).metrics[0].value == -1


def test_unknown_and_nested_fields_are_skipped() -> None:
    properties = bytes([0x4A, 0x03, 0x0A, 0x01, 0x6B])  # field 9 (PropertySet), opaque here
    fixed = bytes([0x69]) + struct.pack("<d", 2.0)  # field 13 (double) of a metric
    metric = bytes([0x0A, 0x01, 0x78, 0x20, 0x0A]) + properties + fixed
    body = bytes([0x2A, 0x02, 0x68, 0x69])  # payload field 5 (body)
    data = bytes([0x12, len(metric)]) + metric + body + bytes([0xC0, 0x3E, 0x05])  # field 1000
    assert sparkplug.decode(data).metrics == (Metric("x", 2.0, DataType.DOUBLE),)


@pytest.mark.parametrize(
    "data",
    [
        b"\x08",  # truncated varint
        b"\x12\x05\x0a",  # length past the end
        b"\x0b",  # wire type 3 (groups)
        b"\x12\x03\x0a\x01\xff",  # name not UTF-8
        b"\x08" + b"\xff" * 11,  # varint too long
    ],
)
def test_malformed_payloads_raise_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        sparkplug.decode(data)


def test_encoding_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot encode"):
        sparkplug.encode(Payload(T, (Metric("x", "eleven", DataType.INT32),)))


# -- topics --------------------------------------------------------------------------------------


def test_topics_parse_and_print() -> None:
    device = sparkplug.parse_topic("spBv1.0/DE-STR/DDATA/L01-EDGE/CNC-07")
    assert device == Topic("DE-STR", MessageType.DDATA, "L01-EDGE", "CNC-07")
    assert str(device) == "spBv1.0/DE-STR/DDATA/L01-EDGE/CNC-07"
    node = sparkplug.parse_topic("spBv1.0/DE-STR/NBIRTH/L01-EDGE")
    assert node == Topic("DE-STR", MessageType.NBIRTH, "L01-EDGE")
    assert sparkplug.parse_topic("spBv1.0/STATE/andon-host") is None


@pytest.mark.parametrize(
    "text",
    [
        "spAv1.0/DE-STR/NBIRTH/L01-EDGE",
        "spBv1.0/DE-STR/NBIRTH",
        "spBv1.0/DE-STR/NBIRTH/L01-EDGE/CNC-07",
        "spBv1.0/DE-STR/DDATA/L01-EDGE",
        "spBv1.0/DE-STR/DDATA/L01-EDGE//",
        "spBv1.0/DE-STR/NFOO/L01-EDGE",
        "andon/events/x",
    ],
)
def test_bad_topics_raise_input_error(text: str) -> None:
    with pytest.raises(InputError):
        sparkplug.parse_topic(text)


# -- the host session ----------------------------------------------------------------------------


def nbirth(bd_seq: int = 0, *, at: int = T) -> Payload:
    return Payload(at, (Metric(BDSEQ, bd_seq, DataType.UINT64), Metric(REBIRTH, False, 11)), 0)


def dbirth(seq: int = 1, *, at: int = T) -> Payload:
    state = Metric("Status/StateCurrent", 6, DataType.INT32, alias=1, timestamp=at)
    reason = Metric("Admin/StopReason/ID", 0, DataType.INT32, alias=3, timestamp=at)
    return Payload(at, (state, reason), seq)


def ddata(seq: int, value: int = 11, *, at: int = T) -> Payload:
    return Payload(at, (Metric(value=value, datatype=DataType.INT32, alias=1, timestamp=at),), seq)


def born(bd_seq: int = 0) -> Host:
    host = sparkplug.receive(Host(), topic(MessageType.NBIRTH), nbirth(bd_seq)).host
    return sparkplug.receive(host, topic(MessageType.DBIRTH), dbirth()).host


def test_births_then_data_resolve_aliases() -> None:
    step = sparkplug.receive(born(), topic(MessageType.DDATA), ddata(2))
    (update,) = step.updates
    assert update.metrics == (Metric("Status/StateCurrent", 11, DataType.INT32, 1, T),)
    assert (update.birth, update.seq, update.bd_seq) == (False, 2, 0)
    assert step.rebirths == () and step.notices == ()


def test_seq_wraps_from_255_to_0_without_a_rebirth() -> None:
    host = born()
    for n in range(2, 2 + 300):
        step = sparkplug.receive(host, topic(MessageType.DDATA), ddata(n % 256, at=T + n))
        assert step.rebirths == (), n
        host = step.host
    assert host.nodes["DE-STR", "L01-EDGE"].next_seq == 302 % 256


def test_a_seq_gap_asks_for_a_rebirth_once_and_drops_data_until_the_nbirth() -> None:
    step = sparkplug.receive(born(), topic(MessageType.DDATA), ddata(3))
    assert step.updates == ()
    (request,) = step.rebirths
    assert request.topic == "spBv1.0/DE-STR/NCMD/L01-EDGE"
    assert "seq 3 where 2 was due" in request.reason
    command = sparkplug.decode(request.payload(T))
    assert command.metric(REBIRTH) == Metric(REBIRTH, True, DataType.BOOLEAN, timestamp=T)
    host = step.host
    for n in range(4, 4 + sparkplug.REREQUEST_EVERY - 1):  # no storm of requests meanwhile
        step = sparkplug.receive(host, topic(MessageType.DDATA), ddata(n))
        assert step.rebirths == () and step.updates == ()
        host = step.host
    again = sparkplug.receive(host, topic(MessageType.DDATA), ddata(99))
    assert len(again.rebirths) == 1  # the NCMD (QoS 0) may have been lost
    host = sparkplug.receive(again.host, topic(MessageType.NBIRTH), nbirth()).host
    host = sparkplug.receive(host, topic(MessageType.DBIRTH), dbirth()).host
    assert sparkplug.receive(host, topic(MessageType.DDATA), ddata(2)).updates


def test_data_before_birth_asks_for_a_rebirth() -> None:
    step = sparkplug.receive(Host(), topic(MessageType.DDATA), ddata(17))
    assert step.updates == () and len(step.rebirths) == 1
    assert "before NBIRTH" in step.rebirths[0].reason
    node_only = sparkplug.receive(Host(), topic(MessageType.NBIRTH), nbirth()).host
    step = sparkplug.receive(node_only, topic(MessageType.DDATA), ddata(1))
    assert "before its DBIRTH" in step.rebirths[0].reason


def test_an_unknown_alias_asks_for_a_rebirth() -> None:
    payload = Payload(T, (Metric(value=1, datatype=DataType.INT32, alias=99),), 2)
    step = sparkplug.receive(born(), topic(MessageType.DDATA), payload)
    assert step.updates == () and "unknown alias 99" in step.rebirths[0].reason


def test_a_redelivered_copy_is_ignored() -> None:
    host = sparkplug.receive(born(), topic(MessageType.DDATA), ddata(2)).host
    step = sparkplug.receive(host, topic(MessageType.DDATA), ddata(2))
    assert step == Step(host)


def test_ndeath_marks_the_devices_stale_and_the_nbirth_restores_them() -> None:
    death = Payload(T + 5, (Metric(BDSEQ, 0, DataType.UINT64),))
    step = sparkplug.receive(born(), topic(MessageType.NDEATH), death)
    offline = Connectivity("DE-STR", "L01-EDGE", None, False, ("CNC-07",), 0, T + 5)
    assert step.notices == (offline,) and step.updates == () and step.rebirths == ()
    node = step.host.nodes["DE-STR", "L01-EDGE"]
    assert not node.online and not node.devices["CNC-07"].online
    back = sparkplug.receive(step.host, topic(MessageType.NBIRTH), nbirth(1, at=T + 9))
    assert back.notices == (Connectivity("DE-STR", "L01-EDGE", None, True, (), 1, T + 9),)


def test_an_ndeath_of_an_older_session_is_ignored() -> None:
    host = born(bd_seq=4)
    late_will = Payload(T, (Metric(BDSEQ, 3, DataType.UINT64),))
    assert sparkplug.receive(host, topic(MessageType.NDEATH), late_will) == Step(host)


def test_ddeath_marks_one_device_stale() -> None:
    step = sparkplug.receive(born(), topic(MessageType.DDEATH), Payload(T, (), 2))
    assert step.notices == (Connectivity("DE-STR", "L01-EDGE", "CNC-07", False, ("CNC-07",), 0, T),)
    again = sparkplug.receive(step.host, topic(MessageType.DBIRTH), dbirth(3))
    assert again.notices[0].online and again.notices[0].device == "CNC-07"
    assert again.updates[0].birth


def test_commands_from_hosts_are_ignored() -> None:
    host = born()
    assert sparkplug.receive(host, topic(MessageType.NCMD), Payload(T)) == Step(host)
