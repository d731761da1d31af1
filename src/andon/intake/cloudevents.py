"""CloudEvents 1.0 structured-mode JSON in and out, with Andon's conventions (DOMAIN.md §2.4).

Pure: bytes in, :class:`InboundEvent` out, and the inverse for Andon's own events. Every
broker adapter shares it, so an envelope is judged the same way whichever way it came in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from andon.core.json import JsonObject, JsonValue
from andon.errors import EnvelopeError
from andon.intake import InboundEvent

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DEFAULT_PREFIX = "andon"

_CONTEXT = frozenset(
    {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"}
)
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_TOKEN = re.compile(r"[a-z][a-z0-9_]*")
_MAJOR = re.compile(r"v([0-9]+)")
_PLANT = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")


def parse(payload: bytes, *, prefix: str = DEFAULT_PREFIX) -> InboundEvent:
    """The event in a structured-mode message; raises :class:`EnvelopeError` naming the field.

    The envelope's ``source`` + ``id`` are the dedupe key whatever the transport: a
    producer that republishes under a new broker message id is still the same event.
    Major version 1 is the plain type (``machine.state_changed``); a breaking major N is
    its own type with contracts of its own (``machine.state_changed.vN``).
    """
    envelope = _load(payload)
    if envelope.get("specversion") != SPECVERSION:
        raise EnvelopeError("specversion", f"must be {SPECVERSION!r}, got {_show(envelope)}")
    source = _text(envelope, "source")
    own_id = _text(envelope, "id")
    event_type, major = parse_type(_text(envelope, "type"), prefix)
    if major > 1:
        event_type = f"{event_type}.v{major}"
    for name in ("subject", "dataschema", "datacontenttype", "time"):
        if name in envelope:
            _text(envelope, name)
    _check_time(envelope)
    _check_extensions(envelope)
    plant = _text(envelope, "plant") if "plant" in envelope else ""
    if plant and not _PLANT.fullmatch(plant):
        raise EnvelopeError("plant", f"must match {_PLANT.pattern}, got {plant!r}")
    return InboundEvent(
        event_type=event_type,
        key=_key(envelope),
        data=_data(envelope),
        source=source,
        event_id=own_id,
        plant=plant,
    )


def parse_type(value: str, prefix: str = DEFAULT_PREFIX) -> tuple[str, int]:
    """``andon.machine.state_changed.v1`` → ``("machine.state_changed", 1)``."""
    head = f"{prefix}."
    if not value.startswith(head):
        raise EnvelopeError("type", f"must start with {head!r}, got {value!r}")
    *tokens, version = value.removeprefix(head).split(".")
    major = _MAJOR.fullmatch(version)
    if len(tokens) != 2 or major is None or not all(_TOKEN.fullmatch(t) for t in tokens):
        raise EnvelopeError(
            "type", f"must be {prefix}.<domain>.<event>.v<major> in lower case, got {value!r}"
        )
    return ".".join(tokens), int(major.group(1))


def to_cloudevent(
    event_type: str,
    data: JsonValue,
    *,
    source: str,
    event_id: str,
    time: datetime,
    version: int = 1,
    subject: str = "",
    plant: str = "",
    prefix: str = DEFAULT_PREFIX,
    extensions: Mapping[str, str | int | bool] | None = None,
) -> JsonObject:
    """The envelope for one of Andon's own events; attributes without a value are left out,
    as CloudEvents forbids nulls. ``time`` must be timezone-aware."""
    if time.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    envelope: JsonObject = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": f"{prefix}.{event_type}.v{version}",
        "time": time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": f"urn:andon:schema:{event_type}:{version}",
    }
    for name, value in (extensions or {}).items():
        if not _EXTENSION_NAME.fullmatch(name) or name in _CONTEXT or name == "data":
            raise EnvelopeError(name, "is not a valid extension attribute name")
        envelope[name] = value
    if subject:
        envelope["subject"] = subject
    if plant:
        envelope["plant"] = plant
    envelope["data"] = data
    parse(encode(envelope), prefix=prefix)  # never emit what we would refuse to read
    return envelope


def encode(envelope: JsonObject) -> bytes:
    """Compact UTF-8 JSON, the wire form of :data:`CONTENT_TYPE`."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def _load(payload: bytes) -> JsonObject:
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise EnvelopeError("", f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise EnvelopeError("", f"payload is not JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise EnvelopeError("", f"payload must be a JSON object, got {type(value).__name__}")
    return value


def _no_constant(name: str) -> JsonValue:
    raise EnvelopeError("", f"payload is not JSON ({name} is not a JSON number)")


def _text(envelope: JsonObject, name: str) -> str:
    value = envelope.get(name)
    if value is None:
        raise EnvelopeError(name, "is required" if name not in envelope else "must not be null")
    if not isinstance(value, str) or not value:
        raise EnvelopeError(name, f"must be a non-empty string, got {json.dumps(value)[:40]}")
    return value


def _show(envelope: JsonObject) -> str:
    return json.dumps(envelope["specversion"]) if "specversion" in envelope else "nothing"


def _check_time(envelope: JsonObject) -> None:
    value = envelope.get("time")
    if not isinstance(value, str):
        return
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None or "T" not in value.upper():
        raise EnvelopeError("time", f"must be an RFC 3339 timestamp with offset, got {value!r}")


def _check_extensions(envelope: JsonObject) -> None:
    for name, value in envelope.items():
        if name in _CONTEXT or name == "data":
            continue
        if name == "data_base64":
            raise EnvelopeError(name, "binary data is not supported; send JSON in data")
        if not _EXTENSION_NAME.fullmatch(name):
            raise EnvelopeError(name, "extension names are 1-20 characters of a-z and 0-9")
        if value is None or not isinstance(value, str | int | bool):
            got = "null" if value is None else type(value).__name__
            raise EnvelopeError(name, f"extension values are strings, integers or booleans: {got}")


def _key(envelope: JsonObject) -> str:
    """The correlation key runs wait on: the business object, else the case id."""
    for name in ("subject", "correlationid"):
        value = envelope.get(name)
        if isinstance(value, str) and value:
            return value
    raise EnvelopeError("subject", "is required (or a correlationid extension) as the event key")


def _data(envelope: JsonObject) -> JsonObject:
    content_type = envelope.get("datacontenttype", "application/json")
    if isinstance(content_type, str) and not _is_json_media(content_type):
        raise EnvelopeError("datacontenttype", f"must be JSON, got {content_type!r}")
    data = envelope.get("data", {})
    if not isinstance(data, dict):
        got = "null" if data is None else type(data).__name__
        raise EnvelopeError("data", f"must be a JSON object, got {got}")
    return data


def _is_json_media(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")
