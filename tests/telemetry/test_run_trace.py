"""One NCR run traced end to end: a real worker runs its ``http.request`` action against a
receiver on loopback. The exported spans form the tree run -> steps -> HTTP action in one
trace whose id is derived from the run id, and the receiver got that trace id and the
action span's id in ``traceparent``; so did the webhook announcing the run's end."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.observability.settings import TelemetrySettings
from andon.observability.tracing import (
    Tracing,
    run_span_id,
    step_span_id,
    trace_headers,
    trace_id_of,
)
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish

SECRET = "whsec_" + base64.b64encode(b"subscription secret, 32 bytes!!!").decode()
NCR = """
id: ncr-lite
version: 1
input:
  type: object
  required: [lot, supplier_url]
  properties: {lot: {type: string}, supplier_url: {type: string}}
steps:
  - id: triage
    kind: decide
    rules:
      - {id: minor, when: "true", then: {severity: minor}}
  - id: notify_supplier
    kind: action
    action: http.request
    input:
      url: input.supplier_url
      json: "{'lot': input.lot, 'severity': steps.triage.output.severity}"
    retry: {max_attempts: 3, initial: 10ms, jitter: 0}
  - {id: close, kind: end, outcome: closed}
"""


class Receiver:
    """Loopback HTTP endpoint that records headers; answers 503 to its first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(503 if len(outer.headers) <= failures else 200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def traced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[bootstrap.App, InMemorySpanExporter]]:
    monkeypatch.setenv("ANDON_EGRESS_ALLOW", "127.0.0.1/32")  # the target runs on loopback
    exporter = InMemorySpanExporter()
    settings = Settings(
        store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"), webhook_allow=("127.0.0.0/8",)
    )
    app = bootstrap.build(
        settings,
        telemetry=TelemetrySettings(),
        tracing=Tracing.exporting(exporter, batch=False),
    )
    publish(app.service, app.actor(), NCR)
    yield app, exporter
    app.close()


def drain_until(app: bootstrap.App, done: Callable[[], bool]) -> None:
    """Run a real worker until ``done`` (the retry backoff is a few real milliseconds)."""
    worker = app.worker(WorkerSettings(threads=1))
    deadline = time.monotonic() + 20
    try:
        while not done():
            assert time.monotonic() < deadline, "the run did not finish"
            if not worker.run_once():
                time.sleep(0.01)
    finally:
        worker.close()


def traceparent(headers: dict[str, str]) -> tuple[int, int]:
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, flags) == ("00", "01")
    return int(trace_id, 16), int(span_id, 16)


def test_an_ncr_run_is_one_trace_run_steps_action_and_the_request_carries_it(
    traced: tuple[bootstrap.App, InMemorySpanExporter],
) -> None:
    app, exporter = traced
    supplier, hook = Receiver(failures=1), Receiver()
    try:
        app.notifier.subscribe(app.actor(), hook.url, ["andon.run.completed"], SECRET)
        run_id = app.service.start_run(
            app.actor(), StartRequest("ncr-lite", {"lot": "L-7", "supplier_url": supplier.url})
        )
        drain_until(app, lambda: bool(hook.headers))
    finally:
        supplier.close()
        hook.close()
    assert app.service.run(app.actor(), run_id).status == "completed"

    spans = exporter.get_finished_spans()
    trace_id = trace_id_of(run_id)
    assert {s.context.trace_id for s in spans} == {trace_id}
    (run,) = [s for s in spans if s.name == "run ncr-lite"]
    assert run.parent is None and run.context.span_id == run_span_id(run_id)
    assert run.attributes is not None and run.attributes["andon.outcome"] == "closed"
    steps = {s.name: s for s in spans if s.parent and s.parent.span_id == run.context.span_id}
    assert set(steps) >= {"step triage", "step notify_supplier", "step close"}
    notify = steps["step notify_supplier"]
    assert notify.context.span_id == step_span_id(run_id, "notify_supplier")
    actions = sorted(
        (s for s in spans if s.name == "action http.request"), key=lambda s: _attempt(s)
    )
    assert [_attempt(s) for s in actions] == [1, 2]  # the 503, then the retry
    for action in actions:
        assert action.parent is not None and action.parent.span_id == notify.context.span_id
        assert action.kind is SpanKind.CLIENT
        assert _within(action, notify) and _within(notify, run)
    assert actions[0].status.status_code is StatusCode.ERROR
    assert actions[1].status.status_code is StatusCode.UNSET

    sent = [traceparent(h) for h in supplier.headers]
    assert sent == [(trace_id, a.context.span_id) for a in actions]
    # both attempts of the visit: one key (the 503 may have taken effect), rising attempts
    keys = {h["idempotency-key"] for h in supplier.headers}
    assert len(keys) == 1 and keys.pop().startswith(f"{run_id}:notify_supplier:")
    assert [h["andon-attempt"] for h in supplier.headers] == ["1", "2"]

    (delivered,) = hook.headers
    webhook = next(s for s in exporter.get_finished_spans() if s.name.startswith("webhook "))
    assert traceparent(delivered) == (trace_id, webhook.context.span_id)
    assert webhook.parent is not None and webhook.parent.span_id == run.context.span_id


def test_sampling_is_decided_by_the_run_id_the_same_everywhere() -> None:
    exporter = InMemorySpanExporter()
    half = Tracing.exporting(exporter, ratio=0.5, batch=False)
    other = Tracing.exporting(InMemorySpanExporter(), ratio=0.5, batch=False)
    run_ids = [f"run-{n}" for n in range(200)]
    kept = [r for r in run_ids if half.sampled(r)]
    assert kept == [r for r in run_ids if other.sampled(r)]
    assert 60 < len(kept) < 140
    dropped = next(r for r in run_ids if not half.sampled(r))
    with half.action("default", dropped, "s", 1, "http.request"):
        assert trace_headers()["traceparent"].endswith("-00")  # propagated, not sampled
    assert not exporter.get_finished_spans()
    assert not Tracing().sampled(kept[0])  # no exporter, no tracing


def _attempt(span: ReadableSpan) -> int:
    assert span.attributes is not None
    return int(str(span.attributes["andon.attempt"]))


def _within(inner: ReadableSpan, outer: ReadableSpan) -> bool:
    assert inner.start_time and inner.end_time and outer.start_time and outer.end_time
    return outer.start_time <= inner.start_time and inner.end_time <= outer.end_time
