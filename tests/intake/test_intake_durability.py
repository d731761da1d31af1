"""Intake under faults, end to end: 10,000 distinct events plus 10 % duplicates, shuffled,
sent through a real broker to ``andon intake`` while that process is SIGKILLed and restarted
five times. Every distinct event must be taken exactly once and start exactly one run:
0 lost, 0 doubled, nothing left unacknowledged on the broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import nats
import pytest
from mosquitto_server import Mosquitto
from nats_server import NatsServer

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.core.json import JsonObject
from andon.intake.cloudevents import encode, to_cloudevent

EVENTS = 10_000
DUPLICATES = 1_000
KILLS = 5
T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
TEMPLATE = """
id: counted
version: 1
input:
  type: object
  required: [unit, n]
  properties: {unit: {type: string}, n: {type: integer}}
triggers: [{event: line.count_posted, key: input.unit}]
steps:
  - {id: done, kind: end, outcome: counted}
"""
CONTRACT = {
    "type": "object",
    "required": ["unit", "n"],
    "properties": {"unit": {"type": "string"}, "n": {"type": "integer"}},
}


def deliveries(seed: int) -> list[bytes]:
    """Every event once, a tenth of them twice (the same CloudEvents source and id), in a
    shuffled order."""
    rng = random.Random(seed)
    events = [encode(_count(n)) for n in range(EVENTS)]
    sent = events + rng.sample(events, DUPLICATES)
    rng.shuffle(sent)
    return sent


def _count(n: int) -> JsonObject:
    unit = f"U-{n % 50}"
    return to_cloudevent(
        "line.count_posted", {"unit": unit, "n": n}, source="/plc/line-3",
        event_id=f"count-{n:05d}", time=T0, subject=unit,
    )  # fmt: skip


def _count(n: int) -> JsonObject:
    unit = f"U-{n % 50}"
    return to_cloudevent(
        "line.count_posted", {"unit": unit, "n": n}, source="/plc/line-3",
        event_id=f"count-{n:05d}", time=T0, subject=unit,
    )  # fmt: skip


def prepare(tmp_path: Path) -> dict[str, str]:
    """A database with the contract and a template each event starts; the CLI's env."""
    env = {
        "ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}",
        "ANDON_SIGNING_KEY": str(tmp_path / "keys" / "signing-key"),
        "ANDON_SECRETS_KEY": str(tmp_path / "secrets-key"),
    }
    settings = Settings(
        store=StoreSettings(env["ANDON_DATABASE_URL"]),
        signing_key=tmp_path / "keys" / "signing-key",
        secrets_key=tmp_path / "secrets-key",
    )
    app = bootstrap.build(settings)
    try:
        app.service.register_contract(app.actor(), "line.count_posted", CONTRACT)
        app.service.publish_template(app.actor(), TEMPLATE)
    finally:
        app.close()
    return env


def count(db: Path, sql: str) -> int:
    while True:
        try:
            with closing(sqlite3.connect(db, timeout=5)) as conn:
                return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # busy for a moment: ask again
            time.sleep(0.05)


def start_intake(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "andon.cli.main", "intake", *args],
            env={**base, **env}, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def kill_and_restart(
    args: list[str], env: dict[str, str], db: Path, log: Path, rng: random.Random
) -> int:
    """Kill the intake KILLS times mid-stream, then let a last one finish; returns kills."""
    kills = 0
    inbox = "SELECT count(*) FROM inbox"
    deadline = time.monotonic() + 600
    while kills < KILLS:
        proc = start_intake(args, env, log)
        target = count(db, inbox) + rng.randint(800, 1600)
        while count(db, inbox) < target and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert count(db, inbox) < EVENTS, "the stream ended before the fifth kill"
        kills += 1
    proc = start_intake(args, env, log)
    try:
        while count(db, inbox) < EVENTS and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)
        time.sleep(1.0)  # duplicates still queued behind the last new event get acked
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return kills


def assert_exactly_once(db: Path, log: Path) -> None:
    tail = log.read_text(errors="replace")[-3000:]
    assert count(db, "SELECT count(*) FROM inbox") == EVENTS, tail
    assert count(db, "SELECT count(*) FROM inbox WHERE matched_runs <> 1") == 0, tail
    assert count(db, "SELECT count(*) FROM runs") == EVENTS, "one run per event, no more"
    assert count(db, "SELECT count(*) FROM dead_letters") == 0, tail


@pytest.mark.slow
def test_nats_events_are_taken_exactly_once_through_five_kills(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    env = prepare(tmp_path)
    sent = deliveries(seed=6)

    async def publish() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        await js.add_stream(name="ANDON_IN", subjects=["andon.in.>"])
        # Each delivery has its own broker message id: the stream keeps the duplicates, so
        # only the inbox (source + CloudEvents id) can drop them.
        for index, payload in enumerate(sent):
            await js.publish("andon.in.line", payload, headers={"Nats-Msg-Id": f"d-{index}"})
        await nc.close()

    asyncio.run(publish())
    db, log = tmp_path / "andon.db", tmp_path / "intake.log"
    args = ["nats", "--url", nats_server.url, "--stream", "ANDON_IN"]
    kills = kill_and_restart(args, env, db, log, random.Random(7))
    assert kills == KILLS
    assert_exactly_once(db, log)
    assert asyncio.run(_nats_unsettled(nats_server.url)) == (0, 0)


async def _nats_unsettled(url: str) -> tuple[int, int]:
    nc = await nats.connect(url)
    info = await nc.jetstream().consumer_info("ANDON_IN", "andon-intake")
    await nc.close()
    return info.num_pending, info.num_ack_pending


@pytest.mark.slow
def test_mqtt_events_are_taken_exactly_once_through_five_kills(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    env = prepare(tmp_path)
    sent = deliveries(seed=8)
    db, log = tmp_path / "andon.db", tmp_path / "intake.log"
    args = ["mqtt", "--host", mosquitto.host, "--port", str(mosquitto.port), "--no-sparkplug"]
    # The first start makes the persistent session, so the broker queues what comes while
    # the intake is down.
    first = start_intake(args, env, log)
    _wait_for(lambda: "ready" in log.read_text(), log)
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait()

    async def publish() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="plc") as client:
            for payload in sent:
                await client.publish("andon/events/line-3", payload, qos=1)

    asyncio.run(publish())
    kills = kill_and_restart(args, env, db, log, random.Random(9))
    assert kills == KILLS
    assert_exactly_once(db, log)


def _wait_for(done: Callable[[], bool], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def test_the_deliveries_hold_every_event_and_a_tenth_twice() -> None:
    sent = deliveries(seed=1)
    ids = [json.loads(p)["id"] for p in sent]
    assert len(ids) == EVENTS + DUPLICATES and len(set(ids)) == EVENTS
    assert ids != sorted(ids), "shuffled"
