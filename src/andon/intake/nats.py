"""NATS JetStream in and out: a durable pull consumer feeding an :class:`EventSink`, and a
publisher for Andon's own events.

At-least-once in, exactly-once taken: a message is acked only after the sink committed it,
so a crash before the ack makes JetStream redeliver and the inbox drops the duplicate. Out,
``Nats-Msg-Id`` is the event id, so a republish after a crash is dropped by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import nats
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError

from andon.core.json import JsonObject
from andon.errors import AdapterError, EnvelopeError
from andon.intake import EventSink, InboundEvent, cloudevents

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"

Reject = Callable[[str, bytes, str], None]
"""Takes ``(subject, payload, reason)`` for a message that can never be taken (the future
dead-letter list). Blocking, like the sink; raising means "not stored", so it is retried."""


@dataclass(frozen=True, slots=True)
class NatsSettings:
    """Where and how to consume; the defaults suit one plant node on loopback."""

    url: str = "nats://127.0.0.1:4222"
    stream: str = "ANDON_IN"
    subjects: tuple[str, ...] = ("andon.in.>",)
    durable: str = "andon-intake"
    duplicate_window: timedelta = timedelta(minutes=2)
    max_age: timedelta = timedelta(days=7)
    batch: int = 32
    fetch_wait: timedelta = timedelta(seconds=1)
    ack_wait: timedelta = timedelta(seconds=30)
    max_deliver: int = -1
    """Deliveries before a failing message goes to ``reject``; -1 retries for ever."""
    nak_delay: timedelta = timedelta(seconds=1)
    nak_delay_max: timedelta = timedelta(minutes=1)
    reconnect_wait: timedelta = timedelta(seconds=1)
    type_prefix: str = cloudevents.DEFAULT_PREFIX
    out_stream: str = "ANDON_OUT"
    out_subject_prefix: str = "andon.out"
    client_name: str = "andon"


def nak_delay(settings: NatsSettings, deliveries: int) -> float:
    """Seconds before redelivery: doubling per failed delivery, capped, so a sink that is
    down (database restarting) is not hammered."""
    base = settings.nak_delay.total_seconds()
    doublings = min(max(deliveries - 1, 0), 30)
    return min(base * 2.0**doublings, settings.nak_delay_max.total_seconds())


async def connect(settings: NatsSettings, stop: asyncio.Event | None = None) -> Client:
    """A client that reconnects for ever; the first connect is retried until ``stop`` too,
    so the intake may start before the broker does."""
    wait = settings.reconnect_wait.total_seconds()
    while True:
        try:
            return await nats.connect(
                settings.url,
                name=settings.client_name,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=wait,
                error_cb=_log_error,
                disconnected_cb=_log_disconnected,
                reconnected_cb=_log_reconnected,
            )
        except (OSError, nats.errors.Error) as exc:
            if stop is None or stop.is_set():
                raise AdapterError(f"NATS at {settings.url} unreachable: {exc!r}") from exc
            log.warning("NATS at %s unreachable, retrying: %r", settings.url, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                raise AdapterError(f"NATS at {settings.url} unreachable: {exc!r}") from exc


async def ensure_stream(
    js: JetStreamContext, name: str, subjects: tuple[str, ...], settings: NatsSettings
) -> None:
    """Create the stream, or bring its subjects and windows up to date (idempotent)."""
    config = api.StreamConfig(
        name=name,
        subjects=list(subjects),
        storage=api.StorageType.FILE,
        duplicate_window=settings.duplicate_window.total_seconds(),
        max_age=settings.max_age.total_seconds(),
    )
    try:
        await js.add_stream(config)
    except BadRequestError:  # exists with another configuration
        await js.update_stream(config)


class NatsIntake:
    """Pulls batches from a durable consumer and hands each message to the sink."""

    def __init__(
        self,
        nc: Client,
        settings: NatsSettings,
        sink: EventSink,
        reject: Reject | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._settings = settings
        self._sink = sink
        self._reject = reject

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the message in hand is finished first and the rest
        of its batch is handed back for immediate redelivery."""
        s = self._settings
        try:
            await ensure_stream(self._js, s.stream, s.subjects, s)
            await self._js.add_consumer(s.stream, self._consumer_config())  # create or update
            sub = await self._js.pull_subscribe_bind(durable=s.durable, stream=s.stream)
        except nats.errors.Error as exc:
            raise AdapterError(
                f"JetStream setup of {s.stream}/{s.durable} failed: {exc!r}"
            ) from exc
        while not stop.is_set():
            try:
                batch = await sub.fetch(s.batch, timeout=s.fetch_wait.total_seconds())
            except TimeoutError:  # nats' own and asyncio's: nothing new, or a reconnect
                continue
            except nats.errors.Error as exc:
                if self._nc.is_closed:  # given up for good (e.g. credentials refused)
                    raise AdapterError(f"NATS connection closed: {exc!r}") from exc
                log.warning("NATS fetch failed, retrying: %r", exc)
                await _pause(stop, s.reconnect_wait.total_seconds())
                continue
            for msg in batch:
                if stop.is_set():
                    await _settle(msg.nak(), msg)
                else:
                    await self._handle(msg)

    def _consumer_config(self) -> api.ConsumerConfig:
        s = self._settings
        return api.ConsumerConfig(
            durable_name=s.durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait.total_seconds(),
            max_deliver=s.max_deliver,
        )

    async def _handle(self, msg: Msg) -> None:
        """Parse, commit, then settle: ack after the sink returned, nak (with backoff) when it
        raised, term after ``reject`` stored a message that can never be taken."""
        try:
            event = cloudevents.parse(msg.data, prefix=self._settings.type_prefix)
        except EnvelopeError as exc:
            await self._dead_letter(msg, str(exc))
            return
        try:
            await self._while_in_progress(msg, asyncio.to_thread(self._sink, event))
        except Exception as exc:
            deliveries = msg.metadata.num_delivered or 1
            if 0 < self._settings.max_deliver <= deliveries:
                await self._dead_letter(msg, f"sink failed {deliveries} times: {exc!r}")
                return
            delay = nak_delay(self._settings, deliveries)
            log.warning("sink refused %s/%s, redelivery in %.1fs: %r", *_ids(event), delay, exc)
            await _settle(msg.nak(delay=delay), msg)
            return
        await _settle(msg.ack(), msg)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        if self._reject is None:
            log.error("dropping message on %s: %s", msg.subject, reason)
            await _settle(msg.term(), msg)
            return
        try:
            await self._while_in_progress(
                msg, asyncio.to_thread(self._reject, msg.subject, msg.data, reason)
            )
        except Exception as exc:
            log.warning("reject failed for message on %s: %r", msg.subject, exc)
            await _settle(msg.nak(delay=self._settings.nak_delay.total_seconds()), msg)
            return
        await _settle(msg.term(), msg)

    async def _while_in_progress(self, msg: Msg, work: Awaitable[object]) -> None:
        """Await ``work``, telling the server we are still at it every half ack-wait, so a
        slow commit is not redelivered to another consumer meanwhile."""
        task = asyncio.ensure_future(work)
        beat = self._settings.ack_wait.total_seconds() / 2
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=beat)
                if not task.done():
                    await _settle(msg.in_progress(), msg)
        finally:
            if not task.done():  # cancelled (adapter killed): the thread runs on, unacked
                task.cancel()
        task.result()


async def run_nats_intake(
    settings: NatsSettings, sink: EventSink, stop: asyncio.Event, reject: Reject | None = None
) -> None:
    """Connect, consume until ``stop`` is set, close; the entry point for the CLI."""
    nc = await connect(settings, stop)
    try:
        await NatsIntake(nc, settings, sink, reject).run(stop)
    finally:
        await nc.close()  # flushes the acks still buffered


class NatsPublisher:
    """Publishes Andon's own events to ``<out_subject_prefix>.<domain>.<event>.v<major>``."""

    def __init__(self, js: JetStreamContext, settings: NatsSettings) -> None:
        self._js = js
        self._settings = settings

    async def ensure(self) -> None:
        """Create the out stream (idempotent), deduplicating on ``Nats-Msg-Id``."""
        s = self._settings
        await ensure_stream(self._js, s.out_stream, (f"{s.out_subject_prefix}.>",), s)

    async def publish(self, envelope: JsonObject, *, timeout: float = 5.0) -> bool:
        """Store one envelope (from :func:`cloudevents.to_cloudevent`) once the server acked
        it; False when the server already had this id (a republish after a crash)."""
        s = self._settings
        event_type, major = cloudevents.parse_type(str(envelope.get("type")), s.type_prefix)
        subject = f"{s.out_subject_prefix}.{event_type}.v{major}"
        try:
            ack = await self._js.publish(
                subject,
                cloudevents.encode(envelope),
                timeout=timeout,
                stream=s.out_stream,
                headers={MSG_ID: str(envelope["id"]), "Content-Type": cloudevents.CONTENT_TYPE},
            )
        except nats.errors.Error as exc:
            raise AdapterError(f"NATS publish to {subject} failed: {exc!r}") from exc
        return not ack.duplicate


async def _settle(call: Awaitable[None], msg: Msg) -> None:
    """Send an ack/nak/term/progress; a lost one only means a redelivery the inbox drops."""
    try:
        await call
    except nats.errors.Error as exc:
        log.warning("could not settle message on %s: %r", msg.subject, exc)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _ids(event: InboundEvent) -> tuple[str, str]:
    return event.source, event.event_id


async def _log_error(exc: Exception) -> None:
    log.warning("NATS error: %r", exc)


async def _log_disconnected() -> None:
    log.warning("NATS disconnected; reconnecting")


async def _log_reconnected() -> None:
    log.info("NATS reconnected")
