"""Sign-in abuse from the attacker's side, against a real server on loopback: a password
spray from one client slows that client down (429) without locking the accounts out of
their own clients, and unknown users cannot be told from wrong passwords."""

from __future__ import annotations

import re
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from andon import bootstrap
from andon.api.app import create_api
from andon.runtime.service import StartRequest
from andon.testing import publish

APPROVERS = ("qe1", "qe2", "qe3", "qe4")
SIGNED = """\
id: signed
version: 1
roles: [QE]
steps:
  - {id: check, kind: approval, roles: [QE], signature: approval}
"""


def password(user: str) -> str:
    return f"{user}'s long password"


@pytest.fixture
def base_url(app: bootstrap.App) -> Iterator[str]:
    """The API served by uvicorn on a free loopback port, in a thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = create_api(app, writes_per_s=1000, burst=1000)
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def client_at(base_url: str, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def login(client: httpx.Client, user: str, secret: str) -> httpx.Response:
    return client.post("/v1/session", json={"tenant": "default", "user": user, "password": secret})


def ui_login(client: httpx.Client, user: str, secret: str) -> httpx.Response:
    """Sign in through the UI's form (its CSRF nonce first)."""
    form = client.get("/ui/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce, form.text
    data = {"tenant": "default", "user": user, "password": secret, "csrf": nonce.group(1)}
    return client.post("/ui/login", data=data, follow_redirects=False)


@pytest.fixture
def approvers(app: bootstrap.App) -> dict[str, str]:
    """Four approvers, each with a task that needs their signature: user -> task id."""
    admin = app.actor()
    publish(app.service, admin, SIGNED)
    tasks = {}
    for user in APPROVERS:
        app.directory.create_user(admin, user, user, password=password(user))
        app.directory.grant(admin, user, "QE")
        run_id = app.service.start_run(admin, StartRequest("signed", {}))
        tasks[user] = f"{run_id}:check:1"
    return tasks


def test_a_spray_from_one_client_slows_it_down_but_locks_nobody_out(
    app: bootstrap.App, base_url: str, approvers: dict[str, str]
) -> None:
    with client_at(base_url, "127.0.0.2") as attacker:
        answers = [login(attacker, APPROVERS[i % 4], f"guess number {i:02d}") for i in range(40)]
    statuses = [a.status_code for a in answers]
    # The clock stands still in this test: after ten failures the client waits, for good.
    assert statuses == [401] * 10 + [429] * 30, statuses
    slowed = answers[-1]
    assert slowed.headers["content-type"] == "application/problem+json"
    assert int(slowed.headers["retry-after"]) >= 1
    assert slowed.json()["type"] == "urn:andon:problem:rate-limited"
    with client_at(base_url, "127.0.0.2") as attacker:  # the UI's form waits as well
        form = ui_login(attacker, "qe1", password("qe1"))
    assert form.status_code == 429 and int(form.headers["retry-after"]) >= 1
    with client_at(base_url, "127.0.0.1") as own:
        assert ui_login(own, "qe1", password("qe1")).status_code == 303

    with client_at(base_url, "127.0.0.1") as own:
        for user, task in approvers.items():
            session = login(own, user, password(user))
            assert session.status_code == 201, session.text
            bearer = {"Authorization": f"Bearer {session.json()['token']}"}
            signature = {"password": password(user), "reason": "reviewed"}
            signed = own.post(
                f"/v1/tasks/{task}/decision", headers=bearer,
                json={"outcome": "approve", "signature": signature},
            )  # fmt: skip
            assert signed.status_code == 200, signed.text

    log = app.directory.admin_log(app.actor())
    throttled = [a for a in log if a.action == "auth.throttled"]
    assert [(a.subject, a.body["client"]) for a in throttled] == [("qe2", "127.0.0.2")]
    assert len([a for a in log if a.action == "auth.failed"]) == 10


def test_unknown_users_answer_like_wrong_passwords_in_words_and_time(
    app: bootstrap.App, base_url: str, approvers: dict[str, str]
) -> None:
    known: list[float] = []
    unknown: list[float] = []
    bodies = set()
    for i in range(7):  # each attempt from its own address, below every throttle
        for user, times in (("qe1", known), (f"nobody{i}", unknown)):
            address = f"127.0.{1 if times is known else 2}.{i + 10}"
            with client_at(base_url, address) as client:
                started = time.perf_counter()
                answer = login(client, user, "a wrong password")
                times.append(time.perf_counter() - started)
            assert answer.status_code == 401
            bodies.add(answer.content)
    assert len(bodies) == 1, bodies
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 <= ratio <= 2.0, (known, unknown)
