"""``andon bench-mqtt``: MQTT intake to committed inbox rows, next to the broker's own rate.

Two phases in one run, against one broker (a private mosquitto unless one is given):

1. **Ceiling**: a publisher sends N QoS 1 CloudEvents and a plain aiomqtt subscriber
   receives them, with no Andon in between: events/s publish->receive.
2. **Andon**: N fresh events of the same shape through :class:`MqttIntake` (what
   ``run_mqtt_intake`` runs) and :class:`ServiceSink` into the inbox of a fresh SQLite
   database (WAL, ``synchronous=FULL``): events/s from the first publish to the last
   inbox row committed; afterwards the inbox must hold each of the N events exactly once.

The publisher is a process of its own (as devices are) and floods at QoS 1, so the
publish->arrival latencies include the backlog at the consumer; ``commit_*`` is the time
of one sink call (one event's transaction).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
from rich.table import Table

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonObject, JsonValue
from andon.errors import AndonError
from andon.intake import EventSink, InboundEvent, cloudevents
from andon.intake.mqtt import MqttIntake, MqttSettings
from andon.runtime.intake_sink import ServiceSink
from andon.tools.bench import figures

SOURCE = "/bench/mqtt"
EVENT_TYPE = "machine.state_changed"
_Counter = Callable[[], int]


@dataclass(frozen=True, slots=True)
class MqttBenchConfig:
    events: int = 5000
    host: str | None = None
    """A broker to use; None starts a private mosquitto on a free loopback port."""
    port: int = 1883
    database: Path | None = None
    window: int = 256
    """QoS 1 publishes in flight at once (the publisher waits for PUBACKs beyond this)."""
    stall_seconds: float = 60.0
    """A phase gives up when nothing arrived for this long."""


@dataclass
class _Phase:
    """One phase's events: wall-clock times (``time.time``, comparable across processes)
    of each publish and of each first arrival, per event id."""

    payloads: list[tuple[str, bytes]]
    sent: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    published_at: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ids: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ids = {event_id for event_id, _ in self.payloads}

    def rates(self, prefix: str) -> dict[str, JsonValue]:
        began = min(self.sent.values())
        last = max(self.arrived.values(), default=began)
        n = len(self.arrived)
        delays = [(at - self.sent[key]) * 1000 for key, at in self.arrived.items()]
        return {
            f"{prefix}_per_s": round(n / (last - began), 1) if n else 0.0,
            f"{prefix}_seconds": round(last - began, 3),
            f"{prefix}_publish_per_s": round(len(self.sent) / (self.published_at - began), 1),
            **_percentiles(f"{prefix}_latency", delays),
        }


class _TimedSink:
    """The real sink, timing each call and noting when each new event was committed."""

    def __init__(self, sink: EventSink, phase: _Phase) -> None:
        self.sink = sink
        self.phase = phase
        self.calls_ms: list[float] = []
        self.loop = asyncio.get_running_loop()

    def __call__(self, event: InboundEvent) -> bool:
        started = time.perf_counter()
        new = self.sink(event)
        self.calls_ms.append((time.perf_counter() - started) * 1000)
        if new and event.event_id in self.phase.ids:
            self.phase.arrived[event.event_id] = time.time()
            if len(self.phase.arrived) >= len(self.phase.ids):
                self.loop.call_soon_threadsafe(self.phase.done.set)
        return new


def run_mqtt_bench(cfg: MqttBenchConfig) -> dict[str, JsonValue]:
    """Run both phases; return the figures as a flat JSON object."""
    workdir = Path(tempfile.mkdtemp(prefix=".andon-bench-mqtt-", dir=Path.cwd()))
    db = cfg.database or workdir / "bench.db"
    try:
        app = bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{db}", "FULL")))
        try:
            with _broker(cfg, workdir) as (host, port, broker):
                try:
                    result = asyncio.run(_measure(app, host, port, db, workdir, cfg))
                except aiomqtt.MqttError as exc:
                    raise AndonError(f"MQTT broker {host}:{port}: {exc}") from exc
                return {"broker": broker, **result}
        finally:
            app.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _measure(
    app: bootstrap.App, host: str, port: int, db: Path, workdir: Path, cfg: MqttBenchConfig
) -> dict[str, JsonValue]:
    tag = uuid.uuid4().hex[:8]
    broker = _Broker(host, port, tag, workdir, cfg)
    ceiling = await _ceiling(broker, _Phase(_payloads(f"{tag}-c", cfg.events)))
    sink = ServiceSink(app.service, app.actor(), f"mqtt:{host}:{port}")
    andon = _Phase(_payloads(f"{tag}-a", cfg.events))
    calls_ms = await _through_andon(broker, sink, andon)
    rows = _inbox(db)
    stored = set(rows)
    figures = {**ceiling.rates("ceiling"), **andon.rates("andon")}
    andon_rate, ceiling_rate = figures["andon_per_s"], figures["ceiling_per_s"]
    assert isinstance(andon_rate, float) and isinstance(ceiling_rate, float)
    return {
        "events": cfg.events,
        "backend": "sqlite",
        "synchronous": "FULL",
        "ceiling_received": len(ceiling.arrived),
        **figures,
        "ratio": round(andon_rate / ceiling_rate, 3) if ceiling_rate else 0.0,
        **_percentiles("commit", calls_ms),
        "taken": len(stored & andon.ids),
        "lost": len(andon.ids - stored),
        "duplicates": len(rows) - len(stored),
        "redelivered": sink.duplicates,
        "dead_letters": sink.dead_letters,
    }


@dataclass(frozen=True, slots=True)
class _Broker:
    host: str
    port: int
    tag: str
    workdir: Path
    cfg: MqttBenchConfig

    def topic(self, phase: str) -> str:
        return f"andon-bench/{self.tag}/{phase}/events"

    async def publish(self, name: str, phase: _Phase) -> None:
        """Every payload at QoS 1 from a publisher process of its own (as a device would
        be), while this process consumes; fills ``phase.sent`` and ``published_at``."""
        source = self.workdir / f"{name}.payloads"
        source.write_bytes(b"\n".join(payload for _, payload in phase.payloads))
        stamps = self.workdir / f"{name}.sent"
        argv = [self.host, str(self.port), self.topic(name), str(source), str(stamps)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, *argv, str(self.cfg.window),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, errors = await process.communicate()
        if process.returncode != 0:
            raise AndonError(f"the MQTT publisher failed: {errors.decode()[-2000:]}")
        sent = json.loads(stamps.read_text())
        phase.sent = dict(zip((i for i, _ in phase.payloads), sent["sent"], strict=True))
        phase.published_at = sent["published_at"]


async def _ceiling(broker: _Broker, phase: _Phase) -> _Phase:
    """The broker with a plain subscriber: publish->receive, no Andon."""
    received: list[tuple[float, bytes]] = []
    subscriber = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=f"andon-bench-{broker.tag}-sub",
        protocol=aiomqtt.ProtocolVersion.V5,
    )
    async with subscriber:
        await subscriber.subscribe(broker.topic("ceiling"), qos=1)

        async def consume() -> None:
            distinct: set[bytes] = set()
            async for message in subscriber.messages:
                assert isinstance(message.payload, bytes)
                received.append((time.time(), message.payload))
                distinct.add(message.payload)
                if len(distinct) >= len(phase.payloads):
                    phase.done.set()

        consumer = asyncio.create_task(consume())
        try:
            await broker.publish("ceiling", phase)
            await _until_done(phase, lambda: len(received), broker.cfg.stall_seconds)
        finally:
            consumer.cancel()
    for at, payload in received:
        phase.arrived.setdefault(json.loads(payload)["id"], at)
    return phase


async def _through_andon(broker: _Broker, sink: ServiceSink, phase: _Phase) -> list[float]:
    """The intake as ``andon intake mqtt`` runs it: publish->row committed in the inbox.
    Returns the duration of each sink call (one event's transaction), in ms."""
    timed = _TimedSink(sink, phase)
    settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        client_id=f"andon-bench-{broker.tag}-intake",
        session_expiry=timedelta(seconds=30),
        sparkplug=False,
        json_topics=(broker.topic("andon"),),
    )
    intake = MqttIntake(settings, timed, sink.reject)
    stop = asyncio.Event()
    task = asyncio.create_task(intake.run(stop))
    try:
        try:
            await asyncio.wait_for(intake.connected.wait(), 30)
        except TimeoutError as exc:
            raise AndonError(f"the MQTT intake did not subscribe at {broker.host}") from exc
        await broker.publish("andon", phase)
        await _until_done(phase, lambda: len(timed.calls_ms), broker.cfg.stall_seconds)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    return timed.calls_ms


async def _until_done(phase: _Phase, progress: _Counter, stall_seconds: float) -> None:
    """Wait for ``phase.done``, giving up once ``progress()`` stood still for too long."""
    seen, since = progress(), time.monotonic()
    while not phase.done.is_set():
        try:
            await asyncio.wait_for(phase.done.wait(), 0.5)
        except TimeoutError:
            now = progress()
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since > stall_seconds:
                return


# -- the publisher process ----------------------------------------------------------------------


async def _send(host: str, port: int, topic: str, payloads: list[bytes], window: int) -> JsonObject:
    """Publish at QoS 1 with ``window`` publishes awaiting their PUBACK at a time."""
    publisher = aiomqtt.Client(
        host,
        port,
        identifier=f"andon-bench-pub-{uuid.uuid4().hex[:8]}",
        protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=window,
    )
    publisher.pending_calls_threshold = window + 1  # a full window is the plan, not a warning
    free = asyncio.Semaphore(window)
    sent: list[JsonValue] = []

    async def one(payload: bytes) -> None:
        try:
            await publisher.publish(topic, payload, qos=1)
        finally:
            free.release()

    async with publisher:
        tasks = []
        for payload in payloads:
            await free.acquire()
            sent.append(time.time())
            tasks.append(asyncio.create_task(one(payload)))
        await asyncio.gather(*tasks)
    return {"sent": sent, "published_at": time.time()}


def _publisher(argv: Sequence[str]) -> None:
    """``python -m andon.tools.bench.mqtt_intake HOST PORT TOPIC PAYLOADS STAMPS WINDOW``."""
    host, port, topic, source, stamps, window = argv
    payloads = Path(source).read_bytes().split(b"\n")
    sent = asyncio.run(_send(host, int(port), topic, payloads, int(window)))
    Path(stamps).write_text(json.dumps(sent))


def _payloads(prefix: str, n: int) -> list[tuple[str, bytes]]:
    """N ``machine.state_changed`` CloudEvents valid against the catalogue contract."""
    at = datetime.now(UTC)
    out = []
    for i in range(n):
        machine = f"CNC-{i % 8 + 1:02d}"
        scope = f"ACME.DE-STR.MACH.L01.{machine}"
        data: JsonValue = {
            "equipment": {"id": machine, "scope": scope, "level": "WorkUnit"},
            "state": {"model": "PackML", "current": "Held", "code": 11,
                      "previous": "Execute", "previous_code": 6},
            "stop_reason": {"id": 2101, "code": "UNP-MECH", "origin": "plc"},
            "origin": {"protocol": "mqtt", "seq": i},
        }  # fmt: skip
        event_id = f"{prefix}-{i}"
        envelope = cloudevents.to_cloudevent(
            EVENT_TYPE, data, source=SOURCE, event_id=event_id, time=at, subject=scope
        )
        out.append((event_id, cloudevents.encode(envelope)))
    return out


def _inbox(db: Path) -> list[str]:
    """The event ids of every inbox row the bench wrote (doubles would show twice)."""
    with closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("SELECT event_id FROM inbox WHERE source=?", (SOURCE,))]


def _percentiles(prefix: str, values: Sequence[float]) -> dict[str, JsonValue]:
    ordered = sorted(values) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        f"{prefix}_p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}_p99_ms": round(p99, 2),
    }


# -- the broker ---------------------------------------------------------------------------------


@contextmanager
def _broker(cfg: MqttBenchConfig, workdir: Path) -> Iterator[tuple[str, int, str]]:
    """``(host, port, description)`` of the given broker, or of a private mosquitto."""
    if cfg.host is not None:
        yield cfg.host, cfg.port, f"{cfg.host}:{cfg.port}"
        return
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    if binary is None:
        raise AndonError(
            "mosquitto is not installed (apt package mosquitto); install it or give --host/--port"
        )
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
        # as root, mosquitto drops to its own user unless told otherwise
        f"user {getpass.getuser()}\n"
        "log_dest stderr\n"
        "log_type error\n"
    )
    log = workdir / "mosquitto.log"
    with log.open("wb") as out:
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
    try:
        _wait_for_listener(process, port, log)
        yield "127.0.0.1", port, "mosquitto (private, loopback)"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_listener(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AndonError(f"mosquitto exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AndonError(f"mosquitto did not listen on port {port} within 10 s")


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def table(result: dict[str, JsonValue]) -> Table:
    """The figures as a two-column rich table."""
    return figures.table("andon bench-mqtt (MQTT intake -> inbox)", result)


if __name__ == "__main__":
    _publisher(sys.argv[1:])
