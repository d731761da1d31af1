"""``http.request`` against a real HTTP server on localhost: each auth scheme's header,
JMESPath mapping, and which failures are worth another attempt."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonObject
from andon.errors import ActionError
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish, tenant_reader
from backends import rows

TOKEN = "tok-http-7c1e-never-logged"
ORDERS = {"orders": [{"id": "A1", "qty": 3}, {"id": "A2", "qty": 5}], "next": None}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    seen: list[Seen] = field(default_factory=list)


class Handler(BaseHTTPRequestHandler):
    server: Any

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
        path = self.path.split("?")[0]
        if path == "/slow":
            time.sleep(1.5)
        if path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"{}", "application/json")
        elif path == "/text":
            self._send(200, b"plain words", "text/plain")
        else:
            self._send(200, json.dumps(ORDERS).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server is on loopback, which egress refuses unless explicitly allowed."""
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    found = Server(f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.seen = found.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


def call(step_input: JsonObject, timeout_s: float | None = None) -> ActionCall:
    return ActionCall("run-7", "fetch", 2, "run-7:fetch:1", step_input, timeout_s)


def request(app: bootstrap.App, server: Server, step_input: JsonObject, **kw: Any) -> Any:
    server.seen.clear()
    return app.actions.get("http.request")(call(step_input, **kw))


def failure(app: bootstrap.App, server: Server, step_input: JsonObject, **kw: Any) -> ActionError:
    with pytest.raises(ActionError) as failed:
        request(app, server, step_input, **kw)
    assert TOKEN not in str(failed.value)
    return failed.value


@pytest.mark.parametrize(
    ("auth", "extra", "header", "expected"),
    [
        ("bearer", {}, "authorization", f"Bearer {TOKEN}"),
        (
            "basic",
            {"username": "andon"},
            "authorization",
            "Basic " + base64.b64encode(f"andon:{TOKEN}".encode()).decode(),
        ),
        ("api-key", {}, "x-api-key", TOKEN),
        ("api-key", {"header": "X-Plant-Key"}, "x-plant-key", TOKEN),
        ("none", {}, "authorization", "forged"),  # no credentials: the step's header goes
    ],
)
def test_each_auth_scheme_sends_its_header(
    app: bootstrap.App,
    server: Server,
    auth: str,
    extra: JsonObject,
    header: str,
    expected: str,
) -> None:
    settings: JsonObject = {
        "url": f"{server.url}/api",
        "auth": auth,
        "headers": {"X-Plant": "DE-STR"},
    }
    secret = None if auth == "none" else TOKEN
    app.connections.set_connection(app.actor(), "erp", "http", {**settings, **extra}, secret)
    step = {"connection": "erp", "path": "orders?open=1", "method": "GET"}
    # A step's own header never replaces the connection's credentials.
    got = request(app, server, {**step, "headers": {header: "forged"}})
    assert got == {"status": 200, "body": ORDERS}
    (seen,) = server.seen
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert (seen.method, seen.path) == ("GET", "/api/orders?open=1")
    assert headers.get(header) == expected
    assert (headers["idempotency-key"], headers["andon-attempt"]) == ("run-7:fetch:1", "2")
    assert headers["x-plant"] == "DE-STR"


def test_map_gives_the_step_output_and_a_bad_map_sends_nothing(
    app: bootstrap.App, server: Server
) -> None:
    app.connections.set_connection(app.actor(), "erp", "http", {"url": server.url})
    step: JsonObject = {"connection": "erp", "path": "/orders", "json": {"lot": "L1"}}
    assert request(app, server, {**step, "map": "orders[?qty > `3`].id"}) == ["A2"]
    assert json.loads(server.seen[0].body) == {"lot": "L1"}
    assert request(app, server, {**step, "map": "{first: orders[0].id, n: length(orders)}"}) == {
        "first": "A1",
        "n": 2,
    }
    bad = failure(app, server, {**step, "map": "orders[?qty >"})
    assert bad.permanent and "orders[?qty >" in str(bad) and not server.seen
    typed = failure(app, server, {**step, "map": "sum(orders)"})
    assert typed.permanent and "sum(orders)" in str(typed)
    text = failure(app, server, {**step, "path": "text", "map": "x"})
    assert text.permanent and "no JSON to map" in str(text)


def test_5xx_is_retried_and_4xx_is_permanent(app: bootstrap.App, server: Server) -> None:
    settings = {"url": server.url, "auth": "bearer"}
    app.connections.set_connection(app.actor(), "erp", "http", settings, TOKEN)
    for status, permanent in [(500, False), (503, False), (404, True), (401, True), (422, True)]:
        failed = failure(app, server, {"connection": "erp", "path": f"status/{status}"})
        assert (failed.permanent, f"answered {status}" in str(failed)) == (permanent, True)


def test_a_timeout_is_retried_the_step_timeout_winning_over_the_connections(
    app: bootstrap.App, server: Server
) -> None:
    settings: JsonObject = {"url": server.url, "timeout_s": 0.2}
    app.connections.set_connection(app.actor(), "erp", "http", settings)
    started = time.monotonic()
    failed = failure(app, server, {"connection": "erp", "path": "slow"})
    assert not failed.permanent and "timed out after 0.2s" in str(failed)
    assert time.monotonic() - started < 1.4
    failed = failure(app, server, {"connection": "erp", "path": "slow"}, timeout_s=0.3)
    assert "timed out after 0.3s" in str(failed)


def test_a_refused_connection_is_retried(app: bootstrap.App) -> None:
    with pytest.raises(ActionError) as failed:
        app.actions.get("http.request")(call({"url": "http://127.0.0.1:9/nothing"}))
    assert not failed.value.permanent


def test_a_plain_url_works_as_before_and_paths_stay_below_the_base(
    app: bootstrap.App, server: Server
) -> None:
    got = request(app, server, {"url": f"{server.url}/orders", "headers": {"X-Trace": "1"}})
    assert got["status"] == 200 and server.seen[0].headers["X-Trace"] == "1"
    assert server.seen[0].method == "POST"
    app.connections.set_connection(app.actor(), "erp", "http", {"url": f"{server.url}/api"})
    for path in ("http://evil.example/x", "//evil.example/x", "../admin", "a/../../b"):
        assert failure(app, server, {"connection": "erp", "path": path}).permanent
    assert not server.seen
    unknown = failure(app, server, {"connection": "nowhere", "path": "x"})
    assert unknown.permanent and "no connection 'nowhere'" in str(unknown)


FETCH = """
id: fetch
version: 1
input: {type: object, properties: {lot: {type: string}}}
steps:
  - id: fetch
    kind: action
    action: http.request
    input:
      connection: "'erp'"
      path: "'orders/' + input.lot"
      method: "'GET'"
      map: "'orders[?qty > `3`].id'"
    retry: {max_attempts: 1}
  - {id: done, kind: end, outcome: fetched}
"""


def test_a_run_fetches_through_its_tenants_connection_and_keeps_the_mapped_output(
    app: bootstrap.App, server: Server
) -> None:
    settings = {"url": server.url, "auth": "bearer"}
    app.connections.set_connection(app.actor(), "erp", "http", settings, TOKEN)
    publish(app.service, app.actor(), FETCH)
    server.seen.clear()
    run_id = app.service.start_run(app.actor(), StartRequest("fetch", {"lot": "L1"}))
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    worker.close()
    assert server.seen[0].path == "/orders/L1"
    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    with tenant_reader(app) as reader:
        journal = reader.journal(run_id)
        run = reader.run(run_id)
    assert run is not None and run.status == "completed"
    succeeded = [r for r in journal if r.type == "StepSucceeded"]
    assert succeeded[0].body["output"] == ["A2"]
    stored = json.dumps([list(map(str, r)) for r in rows(app, "SELECT * FROM run_events")])
    assert TOKEN not in stored
