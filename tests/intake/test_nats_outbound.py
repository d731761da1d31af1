"""Andon's own events published to a real NATS JetStream stream: a subscription whose
target is nats://host:port/<prefix>; a lost acknowledgement's retry is dropped by the stream."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from nats_server import NatsServer

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.runtime import notify_nats
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish
from backends import rows
from flows import REVIEW_FLOW

SECRET = "whsec_" + base64.b64encode(b"subscription secret, 32 bytes!!!").decode()


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[bootstrap.App]:
    settings = Settings(
        store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"), webhook_allow=("127.0.0.0/8",)
    )
    built = bootstrap.build(settings, clock=ManualClock(datetime(2026, 11, 26, 8, tzinfo=UTC)))
    publish(built.service, built.actor(), REVIEW_FLOW)
    yield built
    built.close()


def drain(app: bootstrap.App) -> None:
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass


async def stored(url: str) -> list[tuple[str, dict[str, object]]]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    consumer = await js.pull_subscribe("andon.out.>", durable=None, stream="ANDON_OUT")
    found: list[tuple[str, dict[str, object]]] = []
    try:
        while True:
            for msg in await consumer.fetch(10, timeout=1):
                found.append((msg.subject, json.loads(msg.data)))
                await msg.ack()
    except nats.errors.TimeoutError:
        pass
    await nc.close()
    return found


def test_andon_events_land_in_the_stream_once(
    local_app: bootstrap.App, nats_server: NatsServer
) -> None:
    admin = local_app.actor()
    target = f"nats://127.0.0.1:{nats_server.port}/andon.out"
    local_app.notifier.subscribe(admin, target, ["andon.task.assigned"], SECRET)
    run_id = local_app.service.start_run(admin, StartRequest("review", {}))
    drain(local_app)
    (delivery,) = local_app.notifier.deliveries(admin)
    assert delivery.status == "delivered"
    # The broker stored it but Andon crashed before recording that: the worker's next
    # attempt publishes the same delivery again, which the stream's dedupe window drops.
    (payload,) = rows(local_app, "SELECT payload FROM webhook_deliveries")
    notify_nats.publish(target, payload[0], local_app.notifier.policy)
    found = asyncio.run(stored(nats_server.url))
    assert len(found) == 1
    subject, event = found[0]
    assert subject == "andon.out.task.assigned.v1"
    assert (event["type"], event["id"], event["specversion"]) == (
        "andon.task.assigned.v1", delivery.delivery_id, "1.0",
    )  # fmt: skip
    assert run_id in json.dumps(event["data"])


def test_a_broker_that_is_down_is_a_failed_attempt_retried_later(
    local_app: bootstrap.App, nats_server: NatsServer
) -> None:
    admin = local_app.actor()
    target = f"nats://127.0.0.1:{nats_server.port}/andon.out"
    local_app.notifier.subscribe(admin, target, ["*"], SECRET)
    nats_server.stop()
    local_app.service.start_run(admin, StartRequest("review", {}))
    drain(local_app)
    (delivery,) = local_app.notifier.deliveries(admin)
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    nats_server.start()
    clock = local_app.service.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=1))
    drain(local_app)
    assert local_app.notifier.deliveries(admin)[0].status == "delivered"
    assert len(asyncio.run(stored(nats_server.url))) == 1
