"""Andon's own events to a NATS JetStream stream: a subscription whose target is
``nats://host:port/<subject prefix>`` (default prefix ``andon.out``).

Each delivery is published as a structured CloudEvent to
``<prefix>.<domain>.<event>.v1`` with ``Nats-Msg-Id`` = the delivery id, so the retry of an
attempt whose acknowledgement was lost is dropped by the stream, not stored twice.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

from andon import egress
from andon.core.json import JsonObject
from andon.intake import cloudevents
from andon.intake.nats import NatsPublisher, NatsSettings

DEFAULT_PREFIX = "andon.out"
TIMEOUT_S = 10.0


def publish(url: str, payload: str, policy: egress.Policy) -> None:
    """Publish one stored delivery (the webhook message) to the subscription's stream;
    raises on any failure, which the notifier records as a failed attempt.

    The broker's name is resolved and checked here, and the client connects to that very
    address (a plain ``nats://`` target carries no TLS name to keep)."""
    message = json.loads(payload)
    parts = urlsplit(url)
    prefix = parts.path.strip("/").replace("/", ".") or DEFAULT_PREFIX
    port = parts.port or 4222
    address = policy.resolve(parts.hostname or "", port)[0]
    host = f"[{address}]" if address.version == 6 else str(address)
    settings = NatsSettings(
        url=f"nats://{host}:{port}",
        out_stream=prefix.replace(".", "_").upper(),
        out_subject_prefix=prefix,
    )
    asyncio.run(asyncio.wait_for(_publish(settings, envelope(message)), TIMEOUT_S))


def envelope(message: JsonObject) -> JsonObject:
    event_type = str(message["type"]).removeprefix(cloudevents.DEFAULT_PREFIX + ".")
    at = message.get("time")
    return cloudevents.to_cloudevent(
        event_type, message.get("data"), source=str(message["source"]),
        event_id=str(message["id"]), subject=str(message.get("subject") or message["id"]),
        time=datetime.fromtimestamp(float(at), UTC) if isinstance(at, int | float) else
        datetime.now(UTC),
    )  # fmt: skip


async def _publish(settings: NatsSettings, event: JsonObject) -> None:
    import nats

    nc = await nats.connect(settings.url, connect_timeout=3, max_reconnect_attempts=0)
    try:
        publisher = NatsPublisher(nc.jetstream(), settings)
        await publisher.ensure()
        await publisher.publish(event)
    finally:
        await nc.close()
