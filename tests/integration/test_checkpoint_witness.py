"""The optional witness: every new checkpoint is POSTed to a configured URL, here a real
HTTP server on loopback; a witness that refuses is an error naming it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_audit_anchor import QUICK

from andon import bootstrap
from andon.config import AuditSettings
from andon.errors import StoreError
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import BACKENDS, settings_for


class Witness(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, object]] = []
        self.status = 201

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/checkpoints"


class _Handler(BaseHTTPRequestHandler):
    server: Witness

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def witness() -> Iterator[Witness]:
    server = Witness()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_checkpoint_is_sent_to_the_witness(
    backend: str, tmp_path: Path, witness: Witness
) -> None:
    audit = AuditSettings(witness_url=witness.url)
    with settings_for(backend, tmp_path, audit=audit) as settings:
        app = bootstrap.build(settings)
        try:
            publish(app.service, app.actor(), QUICK)
            app.service.start_run(app.actor(), StartRequest("quick", {}, run_id="r-1"))
            first = app.auditor.checkpoint()
            assert first is not None
            assert [e["hash"] for e in witness.received] == [first.hash]
            assert app.auditor.checkpoint() is None  # nothing moved: nothing sent again
            assert len(witness.received) == 1

            witness.status = 503
            app.service.start_run(app.actor(), StartRequest("quick", {}, run_id="r-2"))
            with pytest.raises(StoreError, match=f"witness {witness.url} refused checkpoint 2"):
                app.auditor.checkpoint()
        finally:
            app.close()
