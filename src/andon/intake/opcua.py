"""OPC UA in: PackML state changes and downtime alarms become ``machine.state_changed`` events.

Nodes are configured by namespace URI and browse path, never by namespace index: indices
differ per server and may move when a server restarts, so they are resolved on every connect.
OPC UA keeps no backlog for a client that was away, so after each (re)connect every state is
read once; event ids come from the source timestamp, so a change seen twice gets the same id
and the inbox drops the second. Debouncing is not done here (see ``intake.packml``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.events import Event
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif
from asyncua.ua.uaerrors import UaError

from andon.core.json import JsonObject, JsonValue
from andon.errors import AdapterError, InputError
from andon.intake import EventSink, InboundEvent
from andon.intake.opcua_nodes import (
    EVENT_TYPE,
    MachineNodes,
    NodeRef,
    OpcUaSettings,
    StateReading,
    event_id,
    machine_state,
    state_code,
)

log = logging.getLogger(__name__)

Reject = Callable[[str, JsonValue, str], None]
"""Takes ``(where, payload, reason)`` for an observation that cannot be mapped (the future
dead-letter list). Blocking, like the sink; if it raises, the observation is logged and dropped."""


@dataclass(frozen=True, slots=True)
class _Watched:
    machine: MachineNodes
    node: Node
    state: Node
    context: tuple[Node | None, Node | None]  # mode, stop reason


@dataclass(frozen=True, slots=True)
class _Seen:
    """A state value (a data change, or read after connecting) or, with ``alarm`` as
    (name, severity), an alarm event; raw, as the server sent it."""

    watched: _Watched
    state: object
    at: datetime | None
    alarm: tuple[str, object] | None = None


class _Handler:
    """Called by asyncua on its loop: only queues, so a slow sink never stalls publishing."""

    def __init__(self, queue: asyncio.Queue[_Seen], watched: list[_Watched]) -> None:
        self._queue = queue
        self._by_state = {w.state.nodeid: w for w in watched}
        self._by_machine = {w.node.nodeid: w for w in watched}

    def datachange_notification(self, node: Node, val: object, data: DataChangeNotif) -> None:
        if watched := self._by_state.get(node.nodeid):
            self._queue.put_nowait(_Seen(watched, val, _timestamp(data.monitored_item.Value)))

    def event_notification(self, event: Event) -> None:
        source = getattr(event, "SourceNode", None)
        watched = self._by_machine.get(source) if isinstance(source, ua.NodeId) else None
        if watched is None:
            return  # another object's event: not one of ours
        text = getattr(getattr(event, "Message", None), "Text", "")
        name = str(getattr(event, "ReasonCode", "") or text or "ALARM")
        at = getattr(event, "Time", None)
        at = _utc(at) if isinstance(at, datetime) else None
        alarm = (name, getattr(event, "Severity", None))
        self._queue.put_nowait(_Seen(watched, getattr(event, "PackMLState", None), at, alarm))

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        log.info("OPC UA subscription status: %s", status.Status)


class OpcUaIntake:
    """Keeps one session to one server, reconnecting with capped backoff when it drops."""

    def __init__(self, settings: OpcUaSettings, sink: EventSink, reject: Reject | None = None):
        self._settings = settings
        self._sink = sink
        self._reject = reject
        nodes = [(m.node, m.state, m.mode, m.stop_reason) for m in settings.machines]
        for text in filter(None, (settings.event_type, *(t for n in nodes for t in n))):
            NodeRef.parse(text)  # bad configuration fails here, not on the first connect
        self._last: dict[str, StateReading] = {}
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: connect, watch, and on any failure wait and start over."""
        while not stop.is_set():
            try:
                await self._session(stop)
            except Exception as exc:
                log.warning("OPC UA session to %s ended: %r", self._settings.endpoint, exc)
            if stop.is_set():
                return
            self._failures += 1
            await _pause(stop, self._delay(self._failures))

    def _delay(self, failures: int) -> float:
        base = self._settings.reconnect_initial.total_seconds()
        return min(
            base * 2.0 ** min(failures - 1, 30), self._settings.reconnect_max.total_seconds()
        )

    async def _session(self, stop: asyncio.Event) -> None:
        s = self._settings
        client = Client(s.endpoint, timeout=s.request_timeout.total_seconds())
        lost = asyncio.Event()

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        try:
            watched, event_type = await self._resolve(client)
            queue: asyncio.Queue[_Seen] = asyncio.Queue()
            period = s.publishing_interval.total_seconds() * 1000
            sub = await client.create_subscription(period, _Handler(queue, watched))
            await sub.subscribe_data_change([w.state for w in watched])
            if event_type is not None:
                await sub.subscribe_events(client.nodes.server, event_type)
            values = await client.read_attributes([w.state for w in watched])
            for w, value in zip(watched, values, strict=True):  # anything missed while away
                current = value.Value.Value if value.Value is not None else None
                queue.put_nowait(_Seen(w, current, _timestamp(value)))
            self._failures = 0
            log.info("OPC UA intake watching %d machines on %s", len(watched), s.endpoint)
            await self._until_done(self._consume(client, queue, stop), stop, lost)
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def _until_done(
        self, work: Coroutine[None, None, None], stop: asyncio.Event, lost: asyncio.Event
    ) -> None:
        """Run ``work`` until it fails, ``stop`` is set or the connection is lost."""
        tasks = [asyncio.ensure_future(c) for c in (work, stop.wait(), lost.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if not tasks[0].cancelled() and (exc := tasks[0].exception()) is not None:
            raise AdapterError("OPC UA intake failed") from exc
        if lost.is_set() and not stop.is_set():
            raise AdapterError(f"lost the connection to {self._settings.endpoint}")

    async def _resolve(self, client: Client) -> tuple[list[_Watched], Node | None]:
        namespaces = await client.get_namespace_array()
        watched = []
        for machine in self._settings.machines:
            try:
                node = await NodeRef.parse(machine.node).resolve(
                    client, client.nodes.objects, namespaces
                )
                state = await NodeRef.parse(machine.state).resolve(client, node, namespaces)
            except (InputError, UaError) as exc:
                log.error("OPC UA machine %s not found: %r", machine.equipment_id, exc)
                continue
            mode = await _find(machine.mode, client, node, namespaces)
            reason = await _find(machine.stop_reason, client, node, namespaces)
            watched.append(_Watched(machine, node, state, (mode, reason)))
        if not watched:
            raise AdapterError(f"none of the configured machines is on {self._settings.endpoint}")
        # A missing alarm type costs the alarms only; the states are still watched.
        types = client.nodes.base_event_type
        return watched, await _find(self._settings.event_type, client, types, namespaces)

    async def _consume(
        self, client: Client, queue: asyncio.Queue[_Seen], stop: asyncio.Event
    ) -> None:
        while True:
            seen = await queue.get()
            w, alarm = seen.watched, seen.alarm
            where = f"{w.machine.node}|{'alarm' if alarm else w.machine.state}"
            before = self._last.get(w.machine.equipment_id)
            if alarm and seen.state is None and before:  # an alarm event without a state
                state: object = before.code
            else:
                state = seen.state
            try:
                now = StateReading(state_code(state), seen.at)
                if (severity := _int(alarm[1]) if alarm else 0) is None:
                    raise InputError(f"alarm severity is not a number: {alarm and alarm[1]!r}")
            except InputError as exc:
                await self._rejected(where, _raw(alarm[0] if alarm else state, seen.at), str(exc))
                continue
            if alarm:
                data = machine_state(w.machine, now, before, alarm=(alarm[0], severity))
                await self._deliver(w, data, where, seen.at, stop)
                continue
            if before is not None and before.code == now.code:
                continue  # the same state read again after a reconnect: not a change
            nodes = [n for n in w.context if n is not None]
            found = dict(zip(nodes, await client.read_values(nodes), strict=True))
            mode, reason = (_int(found.get(n)) if n else None for n in w.context)
            data = machine_state(
                w.machine, now, before, mode=mode, stop_reason=reason,
                stop_reasons=self._settings.stop_reasons,
            )  # fmt: skip
            if await self._deliver(w, data, where, seen.at, stop):
                self._last[w.machine.equipment_id] = now

    async def _deliver(
        self, w: _Watched, data: JsonObject, node: str, at: datetime | None, stop: asyncio.Event
    ) -> bool:
        """Commit through the sink, retrying with backoff while it fails (the database may be
        restarting); False only when stopped first. A refusal of the data is final."""
        s = self._settings
        stamp = at or datetime.now(UTC)  # no timestamp from the server: the id cannot repeat
        event = InboundEvent(
            EVENT_TYPE, w.machine.equipment_id, data, s.source_uri,
            event_id(s.source_uri, node, stamp), s.plant,
        )  # fmt: skip
        failures = 0
        while True:
            try:
                await asyncio.to_thread(self._sink, event)
                return True
            except InputError as exc:
                await self._rejected(node, data, f"refused by the sink: {exc}")
                return True
            except Exception as exc:
                failures += 1
                log.warning("sink failed for %s, retrying: %r", event.event_id, exc)
                if await _pause(stop, self._delay(failures)):
                    return False

    async def _rejected(self, where: str, payload: JsonValue, reason: str) -> None:
        log.warning("OPC UA observation at %s rejected: %s", where, reason)
        if self._reject is None:
            return
        try:
            await asyncio.to_thread(self._reject, where, payload, reason)
        except Exception as exc:
            log.error("reject failed for %s: %r", where, exc)


async def run_opcua_intake(
    settings: OpcUaSettings, sink: EventSink, stop: asyncio.Event, reject: Reject | None = None
) -> None:
    """Watch the machines until ``stop`` is set; the entry point for the CLI."""
    await OpcUaIntake(settings, sink, reject).run(stop)


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep unless stopped first; True when stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _timestamp(value: ua.DataValue) -> datetime | None:
    at = value.SourceTimestamp or value.ServerTimestamp
    return _utc(at) if isinstance(at, datetime) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def _find(text: str, client: Client, start: Node, namespaces: list[str]) -> Node | None:
    """A node the intake can do without (mode, stop reason, alarm type): logged, not fatal."""
    try:
        return await NodeRef.parse(text).resolve(client, start, namespaces) if text else None
    except (InputError, UaError) as exc:
        log.warning("OPC UA node %s below %s not found: %r", text, start.nodeid, exc)
        return None


def _raw(value: object, at: datetime | None) -> JsonObject:
    shown: JsonValue = value if isinstance(value, str | int | float | bool) else repr(value)
    return {"value": shown, "source_timestamp": at.isoformat() if at else None}
