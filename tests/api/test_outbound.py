"""Outbound webhooks against receivers on loopback: signed deliveries, retries with
backoff, dead letters and replay, and SSRF targets refused."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.config import Settings, StoreSettings
from andon.errors import GovernanceError
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.testing import drain, publish
from andon.webhooks import signing
from flows import REVIEW_FLOW

SECRET = "whsec_" + base64.b64encode(b"subscription secret, 32 bytes!!!").decode()


class Receiver:
    """An HTTP endpoint on loopback that fails its first ``failures`` requests."""

    def __init__(self, failures: int, code: int = 503) -> None:
        self.failures = failures
        self.code = code
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                code = outer.code if len(outer.received) < outer.failures else 204
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body, code))
                self.send_response(code)
                if code in (301, 302, 307):
                    self.send_header("location", "http://169.254.169.254/latest/meta-data")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/andon"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def local_app(tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.App]:
    settings = Settings(
        store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"), webhook_allow=("127.0.0.0/8",)
    )
    built = bootstrap.build(settings, clock=clock)
    admin = built.actor()
    publish(built.service, admin, REVIEW_FLOW)
    built.directory.create_user(admin, "qe", "Q. E.")
    built.directory.grant(admin, "qe", "QE")
    yield built
    built.close()


def test_a_receiver_that_fails_three_times_gets_the_fourth_signed_delivery(
    local_app: bootstrap.App, clock: ManualClock
) -> None:
    receiver = Receiver(failures=3)
    try:
        admin = local_app.actor()
        local_app.notifier.subscribe(admin, receiver.url, ["andon.task.assigned"], SECRET)
        run_id = local_app.service.start_run(admin, StartRequest("review", {}))
        for _ in range(4):
            drain(local_app)
            clock.advance(timedelta(minutes=1))  # past each backoff (2 s, 4 s, 8 s x 1.2)
        assert [code for _, _, code in receiver.received] == [503, 503, 503, 204]
        headers, body, _ = receiver.received[-1]
        stamp = int(headers["webhook-timestamp"])
        expected = signing.sign_standard(SECRET, headers["webhook-id"], stamp, body)
        assert headers["webhook-signature"] == expected
        assert b'"type":"andon.task.assigned"' in body and run_id.encode() in body
        log = local_app.notifier.deliveries(admin)
        assert [(d.status, d.attempts, d.last_status) for d in log] == [("delivered", 4, 204)]
        tries = local_app.notifier.attempts(admin, log[0].delivery_id)
        assert [t.status for t in tries] == [503, 503, 503, 204]
        assert all(t.latency_ms > 0 for t in tries)
        assert tries[0].at < tries[1].at < tries[2].at < tries[3].at  # backed off
    finally:
        receiver.close()


def test_a_receiver_that_always_fails_ends_dead_and_is_replayed_after_it_recovers(
    local_app: bootstrap.App, clock: ManualClock
) -> None:
    receiver = Receiver(failures=10**6)
    try:
        admin = local_app.actor()
        local_app.notifier.subscribe(admin, receiver.url, ["*"], SECRET)
        run_id = local_app.service.start_run(admin, StartRequest("review", {}))
        local_app.service.decide_task(local_app.actor("qe"), TaskDecision(f"{run_id}:check:1"))
        for _ in range(12):
            drain(local_app)
            clock.advance(timedelta(hours=1))
        dead = local_app.notifier.deliveries(admin, "dead")
        assert sorted(d.event_type for d in dead) == ["andon.run.completed", "andon.task.assigned"]
        assert all(d.attempts == 6 for d in dead)
        receiver.failures = 0  # it recovers
        for letter in dead:
            local_app.notifier.replay(admin, letter.delivery_id)
        drain(local_app)
        assert local_app.notifier.deliveries(admin, "dead") == []
        assert len(local_app.notifier.deliveries(admin, "delivered")) == 2
        assert [code for _, _, code in receiver.received][-2:] == [204, 204]
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_internal_targets_are_refused_without_an_allow_list(app: bootstrap.App, url: str) -> None:
    with pytest.raises(GovernanceError, match="internal address"):
        app.notifier.subscribe(app.actor(), url, ["*"], SECRET)


def test_subscriptions_over_http(local_app: bootstrap.App) -> None:
    with TestClient(create_api(local_app)) as http:
        admin = token_for(local_app)
        bad = http.post("/v1/webhook-subscriptions", headers=admin,
                        json={"url": "ftp://x/y", "event_types": ["*"], "secret": SECRET})  # fmt: skip
        assert bad.status_code == 422
        made = http.post("/v1/webhook-subscriptions", headers=admin,
                         json={"url": "http://127.0.0.1:9/x", "event_types": ["*"],
                               "secret": SECRET})  # fmt: skip
        assert made.status_code == 201
        assert http.get("/v1/webhook-deliveries?status=dead", headers=admin).json() == []
        gone = http.delete(f"/v1/webhook-subscriptions/{made.json()['subscription_id']}",
                           headers=admin)  # fmt: skip
        assert gone.status_code == 204


def test_redirects_are_not_followed(local_app: bootstrap.App, clock: ManualClock) -> None:
    receiver = Receiver(failures=1, code=302)
    try:
        admin = local_app.actor()
        local_app.notifier.subscribe(admin, receiver.url, ["andon.task.assigned"], SECRET)
        local_app.service.start_run(admin, StartRequest("review", {}))
        drain(local_app)
        delivery = local_app.notifier.deliveries(admin)[0]
        assert (delivery.status, delivery.last_status) == ("pending", 302)  # a failure, retried
        assert len(receiver.received) == 1  # the metadata address was never asked
        clock.advance(timedelta(minutes=1))
        drain(local_app)
        assert local_app.notifier.deliveries(admin)[0].status == "delivered"
    finally:
        receiver.close()
