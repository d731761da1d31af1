"""NATS JetStream intake and publisher against a real nats-server: nothing is acked before the
sink returned, failures come back after the nak delay, duplicates stop at the server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats_server import NatsServer

from andon.errors import AdapterError
from andon.intake import InboundEvent
from andon.intake.cloudevents import encode, to_cloudevent
from andon.intake.nats import NatsPublisher, NatsSettings, ensure_stream, run_nats_intake

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
FAST = NatsSettings(
    fetch_wait=timedelta(seconds=0.2),
    ack_wait=timedelta(seconds=1),
    nak_delay=timedelta(seconds=0.3),
    reconnect_wait=timedelta(seconds=0.1),
    batch=10,
)


def run(test: Callable[[], Coroutine[Any, Any, None]], limit: float = 60.0) -> None:
    asyncio.run(asyncio.wait_for(test(), limit))


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


class Sink:
    """Collects events; can fail its first calls or block in them, like a database would."""

    def __init__(
        self, fail: int = 0, block: threading.Event | None = None, delay: float = 0
    ) -> None:
        self.fail, self.block, self.delay = fail, block, delay
        self.calls: list[tuple[str, float]] = []
        self.events: list[InboundEvent] = []
        self._lock = threading.Lock()

    def __call__(self, event: InboundEvent) -> bool:
        with self._lock:
            self.calls.append((event.event_id, time.monotonic()))
            failing = self.fail > 0
            self.fail -= failing
        if failing:
            raise RuntimeError("database unavailable")
        if self.block is not None:
            self.block.wait(30)
        time.sleep(self.delay)
        with self._lock:
            self.events.append(event)
        return True

    @property
    def ids(self) -> list[str]:
        return [e.event_id for e in self.events]


class Rejects(list[tuple[str, bytes, str]]):
    def __call__(self, subject: str, payload: bytes, reason: str) -> None:
        self.append((subject, payload, reason))


class Intake:
    """``run_nats_intake`` as a task that can be stopped gracefully or killed."""

    def __init__(self, settings: NatsSettings, sink: Sink, reject: Rejects | None = None) -> None:
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(run_nats_intake(settings, sink, self.stop_event, reject))

    async def stop(self) -> None:
        self.stop_event.set()
        await self.task

    async def kill(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def producer(settings: NatsSettings) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(settings.url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_stream(js, settings.stream, settings.subjects, settings)
    return nc, js


def event(n: int, **extensions: Any) -> bytes:
    envelope = to_cloudevent(
        "machine.state_changed",
        {"n": n},
        source="/connectors/test",
        event_id=f"ce-{n}",
        time=T0,
        subject=f"CNC-{n:02}",
        plant="DE-STR",
        extensions=extensions,
    )
    return encode(envelope)


async def publish(js: JetStreamContext, n: int, msg_id: str | None = None) -> bool:
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    ack = await js.publish("andon.in.machine", event(n), headers=headers)
    return not ack.duplicate


async def pending(js: JetStreamContext, settings: NatsSettings) -> tuple[int, int]:
    """(not yet delivered, delivered but not acked)."""
    info = await js.consumer_info(settings.stream, settings.durable)
    return info.num_pending, info.num_ack_pending


async def settled(js: JetStreamContext, settings: NatsSettings, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await pending(js, settings) != (0, 0):
        assert time.monotonic() < deadline, "consumer still has unacked messages"
        await asyncio.sleep(0.1)


def test_published_events_reach_the_sink(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink = Sink()
        intake = Intake(settings, sink)
        for n in range(5):
            await publish(js, n, msg_id=f"m-{n}" if n else None)
        await until(lambda: len(sink.events) == 5)
        await intake.stop()
        first = sink.events[0]
        assert (first.event_type, first.key, first.plant) == (
            "machine.state_changed",
            "CNC-00",
            "DE-STR",
        )
        assert (first.source, first.data) == ("/connectors/test", {"n": 0})
        # The envelope's id is the event id; Nats-Msg-Id only feeds the stream's dedupe.
        assert sink.ids == ["ce-0", "ce-1", "ce-2", "ce-3", "ce-4"]
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_duplicate_msg_id_within_the_window_is_dropped_by_the_server(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        assert await publish(js, 1, msg_id="same") is True
        assert await publish(js, 1, msg_id="same") is False
        assert await publish(js, 2, msg_id="other") is True
        sink = Sink()
        intake = Intake(settings, sink)
        await until(lambda: len(sink.events) == 2)
        await asyncio.sleep(0.3)
        await intake.stop()
        assert sink.ids == ["ce-1", "ce-2"]
        assert (await js.stream_info(settings.stream)).state.messages == 2
        await nc.close()

    run(scenario)


def test_sink_failure_is_nakked_and_redelivered_after_the_delay(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink = Sink(fail=1)
        intake = Intake(settings, sink)
        await publish(js, 1)
        await until(lambda: len(sink.events) == 1)
        await asyncio.sleep(0.5)
        await intake.stop()
        assert [c[0] for c in sink.calls] == ["ce-1", "ce-1"]
        gap = sink.calls[1][1] - sink.calls[0][1]
        assert 0.3 <= gap < 0.3 + 0.8, gap  # the nak delay, not the 1 s ack wait
        assert sink.ids == ["ce-1"]
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_a_message_failing_max_deliver_times_goes_to_reject(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url, max_deliver=2, nak_delay=timedelta(seconds=0.1))

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink, rejects = Sink(fail=99), Rejects()
        intake = Intake(settings, sink, rejects)
        await publish(js, 1)
        await until(lambda: len(rejects) == 1)
        await intake.stop()
        assert len(sink.calls) == 2 and sink.events == []
        assert rejects[0][0] == "andon.in.machine" and rejects[0][1] == event(1)
        assert "sink failed 2 times" in rejects[0][2]
        assert "database unavailable" in rejects[0][2]
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_malformed_messages_go_to_reject_with_the_reason(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink, rejects = Sink(), Rejects()
        intake = Intake(settings, sink, rejects)
        no_source = json.loads(event(2))
        del no_source["source"]
        await js.publish("andon.in.bad", b"{oops")
        await js.publish("andon.in.bad", json.dumps(no_source).encode())
        await publish(js, 3)
        await until(lambda: len(sink.events) == 1 and len(rejects) == 2)
        await intake.stop()
        assert rejects[0][:2] == ("andon.in.bad", b"{oops")
        assert "payload is not JSON" in rejects[0][2]
        assert rejects[1][2] == "source: is required"
        assert sink.ids == ["ce-3"]
        assert await pending(js, settings) == (0, 0)  # terminated, not left to redeliver
        await nc.close()

    run(scenario)


def test_graceful_restart_mid_stream_loses_and_repeats_nothing(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        for n in range(30):
            await publish(js, n)
        sink = Sink(delay=0.02)
        first = Intake(settings, sink)
        await until(lambda: len(sink.events) >= 5)
        await first.stop()
        taken_before_restart = len(sink.events)
        assert taken_before_restart < 30
        second = Intake(settings, sink)
        await until(lambda: len(sink.events) >= 30)
        await asyncio.sleep(0.3)
        await second.stop()
        assert sorted(sink.ids) == sorted(f"ce-{n}" for n in range(30))
        assert len(sink.ids) == 30, "a graceful stop acks what it took and hands back the rest"
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_killed_while_the_sink_runs_means_not_acked_and_delivered_again(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        release = threading.Event()
        stuck = Sink(block=release)
        first = Intake(settings, stuck)
        await publish(js, 1)
        await until(lambda: len(stuck.calls) == 1)
        await first.kill()  # the crash: the sink never returned, so no ack may have gone out
        assert await pending(js, settings) == (0, 1)
        killed_at = time.monotonic()
        sink = Sink()
        second = Intake(settings, sink)
        await until(lambda: len(sink.events) == 1)
        assert time.monotonic() - killed_at >= 0.5  # came back once the ack wait ran out
        assert sink.ids == ["ce-1"]
        release.set()  # the orphaned thread may still commit: the inbox drops that duplicate
        await second.stop()
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_a_slow_sink_keeps_its_message_past_the_ack_wait(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink = Sink(delay=2.5)  # 2.5 x the ack wait; in-progress beats hold the message
        intakes = [Intake(settings, sink), Intake(settings, sink)]  # same durable consumer
        await publish(js, 1)
        await until(lambda: len(sink.events) == 1)
        await asyncio.sleep(1.2)
        for intake in intakes:
            await intake.stop()
        assert len(sink.calls) == 1, "redelivered to the other instance while being committed"
        assert await pending(js, settings) == (0, 0)
        await nc.close()

    run(scenario)


def test_broker_outage_and_restart_loses_nothing(nats_server: NatsServer) -> None:
    settings = replace(FAST, url=nats_server.url)

    async def scenario() -> None:
        nc, js = await producer(settings)
        sink = Sink()
        intake = Intake(settings, sink)
        for n in range(3):
            await publish(js, n)
        await until(lambda: len(sink.events) == 3)
        nats_server.stop(kill=True)
        await asyncio.sleep(1.0)
        assert not intake.task.done(), "the intake must ride out the outage"
        nats_server.start()
        await until(lambda: nc.is_connected)
        for n in range(3, 6):
            await publish(js, n)
        await until(lambda: len(set(sink.ids)) == 6, timeout=15)
        await settled(js, settings)  # the redeliveries of forgotten acks, if any, are done
        await intake.stop()
        assert sorted(set(sink.ids)) == [f"ce-{n}" for n in range(6)]
        # A killed server may forget acks it had not synced: those events come again
        # (the inbox drops them), and nothing else does.
        assert {i for i in sink.ids if sink.ids.count(i) > 1} <= {"ce-0", "ce-1", "ce-2"}
        await nc.close()

    run(scenario)


def test_intake_waits_for_a_broker_that_is_not_up_yet(nats_server: NatsServer) -> None:
    settings = replace(FAST, url=nats_server.url)
    nats_server.stop()

    async def scenario() -> None:
        sink = Sink()
        intake = Intake(settings, sink)
        await asyncio.sleep(0.5)
        assert not intake.task.done()
        nats_server.start()
        nc, js = await producer(settings)
        await publish(js, 1)
        await until(lambda: len(sink.events) == 1, timeout=15)
        await intake.stop()
        await nc.close()

    run(scenario)


def test_publisher_lands_in_the_out_stream_and_dedupes_republish(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        publisher = NatsPublisher(js, settings)
        await publisher.ensure()
        await publisher.ensure()  # idempotent
        envelope = to_cloudevent(
            "workflow.task_escalated",
            {"task": "t-1"},
            source="/andon/DE-STR",
            event_id="0193a1c2-0000-7000-8000-000000000001",
            time=T0,
            subject="run-17",
        )
        assert await publisher.publish(envelope) is True
        assert await publisher.publish(envelope) is False  # the republish after a crash
        info = await js.stream_info(settings.out_stream)
        assert info.state.messages == 1
        stored = await js.get_msg(settings.out_stream, info.state.last_seq)
        assert stored.subject == "andon.out.workflow.task_escalated.v1"
        assert stored.headers is not None
        assert stored.headers["Nats-Msg-Id"] == envelope["id"]
        assert json.loads(stored.data or b"") == envelope
        await nc.close()

    run(scenario)


def test_a_setup_the_server_refuses_fails_loudly(nats_url: str) -> None:
    settings = replace(FAST, url=nats_url)

    async def scenario() -> None:
        nc = await nats.connect(nats_url)
        await ensure_stream(nc.jetstream(), "SQUATTER", settings.subjects, settings)
        with pytest.raises(AdapterError, match="JetStream setup of ANDON_IN/andon-intake failed"):
            await run_nats_intake(settings, Sink(), asyncio.Event())
        await nc.close()

    run(scenario)
