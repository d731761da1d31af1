"""MQTT in: Sparkplug B edge nodes (``spBv1.0/#``) and CloudEvents JSON topics feeding an
:class:`EventSink`, on aiomqtt.

Acks after commit: paho's manual ack is switched on, so a QoS 1 message is acknowledged only
once the sink returned. Until then the message stays in hand (a failing sink is retried with
backoff); if the process dies first, the broker redelivers it from the persistent session
(MQTT 5 clean start off with a session expiry, or 3.1.1 clean session off) and the inbox
drops what it already has. Sparkplug data is QoS 0 by the spec: there a lost message shows
up as a ``seq`` gap, answered by a rebirth request whose births restate every value.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from andon.core.json import JsonObject, canonical_json
from andon.errors import InputError
from andon.intake import EventSink, InboundEvent, cloudevents, packml, sparkplug

log = logging.getLogger(__name__)

CONNECTIVITY_TYPE = "edge.connectivity_changed"
_PLANT = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")

Reject = Callable[[str, bytes, str], None]
"""Takes ``(topic, payload, reason)`` for a message that can never be taken (the future
dead-letter list). Blocking, like the sink; raising means "not stored", so it is retried."""


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Where and how to listen; the defaults suit one plant node on loopback."""

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "andon-intake"
    """Fixed, so the broker keeps this client's session (and its unacked messages)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: int = 5
    """5 (MQTT 5, session expiry below) or 4 (MQTT 3.1.1, session kept until cleaned)."""
    session_expiry: timedelta = timedelta(days=1)
    keepalive: int = 30
    sparkplug: bool = True
    json_topics: tuple[str, ...] = ("andon/events/#",)
    qos: int = 1
    host_id: str = ""
    """Sparkplug host id: when set, ``spBv1.0/STATE/<host_id>`` is kept up to date."""
    tick: timedelta = timedelta(seconds=1)
    """How often debounced stops are checked when no message arrives."""
    reconnect_wait: timedelta = timedelta(seconds=0.5)
    reconnect_wait_max: timedelta = timedelta(seconds=30)
    retry_wait: timedelta = timedelta(seconds=0.5)
    retry_wait_max: timedelta = timedelta(seconds=30)
    type_prefix: str = cloudevents.DEFAULT_PREFIX
    source_prefix: str = "/connectors/sparkplug"
    scope_template: str = "{group}.{edge_node}.{device}"
    rules: packml.Rules = field(default_factory=packml.Rules)


# -- pure: one message or one tick in, events and rebirth requests out --------------------------


@dataclass(frozen=True, slots=True)
class State:
    host: sparkplug.Host = field(default_factory=sparkplug.Host)
    debounce: packml.Debounce = field(default_factory=packml.Debounce)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    events: tuple[InboundEvent, ...] = ()
    rebirths: tuple[sparkplug.Rebirth, ...] = ()
    micro_stops: tuple[packml.MicroStop, ...] = ()


def translate(
    state: State, settings: MqttSettings, topic: str, payload: bytes, received_at: datetime
) -> Outcome:
    """What one Sparkplug message means; raises :class:`InputError` for one that never can."""
    parsed = sparkplug.parse_topic(topic)
    if parsed is None:  # a host's STATE
        return Outcome(state)
    step = sparkplug.receive(state.host, parsed, sparkplug.decode(payload))
    debounce = state.debounce
    events: list[InboundEvent] = []
    micro: list[packml.MicroStop] = []
    for notice in step.notices:
        events.append(connectivity_event(settings, notice, received_at))
        if not notice.online:
            keys = tuple(_key(notice.group, notice.edge_node, d) for d in notice.devices)
            debounce = packml.mark_stale(debounce, keys)
    for update in step.updates:
        device = update.topic.device
        if device is None:
            continue
        machine = machine_of(settings, update.topic.group, update.topic.edge_node, device)
        observation = packml.from_sparkplug(update, machine, received_at)
        if observation is not None:
            decision = packml.observe(debounce, settings.rules, observation)
            debounce = decision.state
            events += decision.events
            micro += decision.micro_stops
    new = State(step.host, debounce)
    return Outcome(new, tuple(events), step.rebirths, tuple(micro))


def tick(state: State, settings: MqttSettings, now: datetime) -> Outcome:
    decision = packml.due(state.debounce, settings.rules, now)
    return Outcome(State(state.host, decision.state), decision.events, (), decision.micro_stops)


def machine_of(settings: MqttSettings, group: str, edge_node: str, device: str) -> packml.Machine:
    """Sparkplug group = plant, edge node = line gateway, device = machine (DOMAIN.md 2.2)."""
    scope = _scope(settings, group, edge_node, device)
    source = f"{settings.source_prefix}/{group}/{edge_node}"
    plant = group if _PLANT.fullmatch(group) else ""
    return packml.Machine(_key(group, edge_node, device), device, scope, source, plant)


def connectivity_event(
    settings: MqttSettings, notice: sparkplug.Connectivity, received_at: datetime
) -> InboundEvent:
    """A connectivity ticket: the data of ``devices`` went stale (or fresh). Not a breakdown."""
    group, node, device = notice.group, notice.edge_node, notice.device
    data: JsonObject = {"edge_node": {"group": group, "id": node}, "online": notice.online}
    key = f"{group}.{node}"
    if device is not None:
        key = _scope(settings, group, node, device)
        data["device"] = {"id": device, "scope": key}
    data["devices"] = list(notice.devices)
    origin: JsonObject = {"protocol": "sparkplug"}
    if notice.bd_seq is not None:
        origin["bd_seq"] = notice.bd_seq
    data["origin"] = origin
    at = received_at if notice.timestamp is None else packml.from_millis(notice.timestamp)
    source = f"{settings.source_prefix}/{group}/{node}"
    name = f"{source}|{device or ''}|{'online' if notice.online else 'offline'}|{notice.bd_seq}"
    return InboundEvent(
        event_type=CONNECTIVITY_TYPE,
        key=key,
        data=data,
        source=source,
        event_id=packml.event_id(name, at),
        plant=group if _PLANT.fullmatch(group) else "",
    )


def _scope(settings: MqttSettings, group: str, edge_node: str, device: str) -> str:
    return (
        settings.scope_template.replace("{group}", group)
        .replace("{edge_node}", edge_node)
        .replace("{device}", device)
    )


def _key(group: str, edge_node: str, device: str) -> str:
    return f"{group}/{edge_node}/{device}"


# -- the shell ---------------------------------------------------------------------------------


class MqttIntake:
    """One broker connection at a time, reconnecting with backoff; the host state (sessions,
    debounce) lives across reconnects and is replaced only after the sink took its events."""

    def __init__(
        self,
        settings: MqttSettings,
        sink: EventSink,
        reject: Reject | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._sink = sink
        self._reject = reject
        self._clock = clock
        self._state = State()
        self._lock = asyncio.Lock()
        self.connected = asyncio.Event()
        """Set while subscribed; tests and health checks wait on it."""

    @property
    def state(self) -> State:
        return self._state

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; the message in hand is finished (or left unacked)."""
        s = self._settings
        wait = s.reconnect_wait.total_seconds()
        ticker = asyncio.create_task(self._tick_loop(stop))
        try:
            while not stop.is_set():
                try:
                    async with self._client() as client:
                        wait = s.reconnect_wait.total_seconds()
                        await self._session(client, stop)
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    log.warning("MQTT %s:%s: %s; reconnecting in %.1fs", s.host, s.port, exc, wait)
                    await _pause(stop, wait)
                    wait = min(wait * 2, s.reconnect_wait_max.total_seconds())
        finally:
            self.connected.clear()
            async with self._lock:  # let a tick in progress finish its delivery
                ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    def _client(self) -> aiomqtt.Client:
        """A persistent session: the broker keeps unacked messages for the next connection."""
        s = self._settings
        v5 = s.protocol == 5
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = int(s.session_expiry.total_seconds())
        client = aiomqtt.Client(
            s.host,
            s.port,
            identifier=s.client_id,
            username=s.username,
            password=s.password,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=self._host_state(online=False),
            keepalive=s.keepalive,
            clean_session=None if v5 else False,
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties if v5 else None,
        )
        # aiomqtt 2.5 has no manual-ack option of its own; its paho client has (paho >= 2.0).
        client._client.manual_ack_set(True)
        return client

    def _host_state(self, *, online: bool) -> aiomqtt.Will | None:
        if not self._settings.host_id:
            return None
        topic = f"{sparkplug.NAMESPACE}/STATE/{self._settings.host_id}"
        body = json.dumps({"online": online, "timestamp": packml.to_millis(self._clock())})
        return aiomqtt.Will(topic, body.encode(), qos=1, retain=True)

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        s = self._settings
        topics = [*([f"{sparkplug.NAMESPACE}/#"] if s.sparkplug else []), *s.json_topics]
        for topic in topics:
            await client.subscribe(topic, qos=s.qos)
        await self._publish_state(client, online=True)
        self.connected.set()
        await self._consume(client, stop)
        await self._publish_state(client, online=False)  # stopping on purpose

    async def _publish_state(self, client: aiomqtt.Client, *, online: bool) -> None:
        state = self._host_state(online=online)
        if state is not None:
            await client.publish(state.topic, state.payload, qos=1, retain=True)

    async def _consume(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        messages = aiter(client.messages)
        try:
            while True:
                incoming = asyncio.ensure_future(anext(messages))
                await asyncio.wait({incoming, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not incoming.done():
                    incoming.cancel()  # unacked QoS 1 messages come again next session
                    with contextlib.suppress(asyncio.CancelledError):
                        await incoming
                    return
                await self._handle(client, incoming.result(), stop)
        finally:
            stopping.cancel()

    async def _handle(
        self, client: aiomqtt.Client, message: aiomqtt.Message, stop: asyncio.Event
    ) -> None:
        topic = message.topic.value
        payload = message.payload
        async with self._lock:
            try:
                outcome = self._translate(topic, payload)
            except InputError as exc:
                if not await self._dead_letter(topic, payload, str(exc), stop):
                    return
            else:
                for request in outcome.rebirths:
                    log.info("asking %s for rebirth: %s", request.topic, request.reason)
                    now = packml.to_millis(self._clock())
                    await client.publish(request.topic, request.payload(now), qos=0)
                if not await self._deliver(outcome.events, topic, payload, stop):
                    return  # stopping: leave it unacked for the next session
                self._adopt(outcome)
        if message.qos > 0:
            client._client.ack(message.mid, message.qos)  # a lost ack is a redelivery

    def _translate(self, topic: str, payload: bytes) -> Outcome:
        if topic.startswith(f"{sparkplug.NAMESPACE}/"):
            return translate(self._state, self._settings, topic, payload, self._clock())
        event = cloudevents.parse(payload, prefix=self._settings.type_prefix)
        return Outcome(self._state, (event,))

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _pause(stop, self._settings.tick.total_seconds())
            async with self._lock:
                outcome = tick(self._state, self._settings, self._clock())
                if await self._deliver(outcome.events, "", b"", stop):
                    self._adopt(outcome)

    def _adopt(self, outcome: Outcome) -> None:
        self._state = outcome.state
        for small in outcome.micro_stops:
            log.info("micro-stop on %s: %s", small.machine.scope, small.duration)

    async def _deliver(
        self, events: Iterable[InboundEvent], topic: str, payload: bytes, stop: asyncio.Event
    ) -> bool:
        """Hand each event to the sink, retrying with backoff while it fails; an event it
        refuses as invalid goes to ``reject``. False when ``stop`` cut the retrying short."""
        for event in events:
            try:
                if not await self._retrying(stop, f"sink for {event.event_id}", self._sink, event):
                    return False
            except InputError as exc:
                where, raw = (topic, payload) if topic else (event.source, _raw(event))
                if not await self._dead_letter(where, raw, f"{event.event_id}: {exc}", stop):
                    return False
        return True

    async def _dead_letter(
        self, topic: str, payload: bytes, reason: str, stop: asyncio.Event
    ) -> bool:
        if self._reject is not None:
            try:
                return await self._retrying(
                    stop, f"reject for {topic}", self._reject, topic, payload, reason
                )
            except InputError as exc:
                reason = f"{reason} (and reject refused it: {exc})"
        log.error("dropping message on %s: %s", topic, reason)
        return True

    async def _retrying(
        self, stop: asyncio.Event, what: str, call: Callable[..., object], *args: object
    ) -> bool:
        """Call in a worker thread until it returns (True) or ``stop`` is set (False);
        :class:`InputError` means "never", so it is raised at once."""
        wait = self._settings.retry_wait.total_seconds()
        while True:
            try:
                await asyncio.to_thread(call, *args)
                return True
            except InputError:
                raise
            except Exception as exc:
                log.warning("%s failed, retrying in %.1fs: %r", what, wait, exc)
            if await _pause(stop, wait):
                return False
            wait = min(wait * 2, self._settings.retry_wait_max.total_seconds())


async def run_mqtt_intake(
    settings: MqttSettings, sink: EventSink, stop: asyncio.Event, reject: Reject | None = None
) -> None:
    """Listen until ``stop`` is set; the entry point for the CLI."""
    await MqttIntake(settings, sink, reject).run(stop)


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep, or less if ``stop`` is set; True when it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def _raw(event: InboundEvent) -> bytes:
    fields: JsonObject = {
        "event_type": event.event_type,
        "key": event.key,
        "source": event.source,
        "event_id": event.event_id,
        "plant": event.plant,
        "data": event.data,
    }
    return canonical_json(fields).encode()
