"""Structured logs: once configured, a failed action attempt is one JSON line carrying the
run, step, attempt and the trace and span ids of its action span; other libraries' log
records (uvicorn's) come out as JSON lines too. Unconfigured, Andon logs nothing."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.errors import ActionError
from andon.observability import logs
from andon.observability.settings import TelemetrySettings
from andon.observability.tracing import Tracing, trace_id_of
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish

FLOW = """
id: fragile
version: 1
steps:
  - {id: call_erp, kind: action, action: test.erp_down, retry: {max_attempts: 1}}
  - {id: done, kind: end, outcome: closed}
"""


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("json", "info", stream)
    yield stream
    root.handlers, level = saved
    root.setLevel(level)
    structlog.reset_defaults()
    logs._configured = False  # the process-wide switch, back to the unconfigured default


def run_failing_action(tmp_path: Path, tracing: Tracing) -> str:
    settings = Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"))
    app = bootstrap.build(settings, telemetry=TelemetrySettings(), tracing=tracing)
    try:

        def erp_down(call: ActionCall) -> JsonValue:
            raise ActionError("ERP answered 503")

        app.actions.register("test.erp_down", erp_down)
        publish(app.service, app.actor(), FLOW)
        run_id = app.service.start_run(app.actor(), StartRequest("fragile", {}))
        worker = app.worker(WorkerSettings(threads=1))
        while worker.run_once():
            pass
        worker.close()
        return run_id
    finally:
        app.close()


def test_a_failed_attempt_is_a_json_line_with_run_and_trace_ids(
    lines: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = InMemorySpanExporter()
    run_id = run_failing_action(tmp_path, Tracing.exporting(exporter, batch=False))
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    (failed,) = [r for r in records if r["event"] == "action failed"]
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "action test.erp_down"]
    assert failed == {
        "event": "action failed", "level": "warning", "logger": "andon.worker",
        "timestamp": failed["timestamp"], "tenant": "default", "run_id": run_id,
        "step": "call_erp", "attempt": 1, "outcome": "failed", "error": "ERP answered 503",
        "trace_id": format(trace_id_of(run_id), "032x"),
        "span_id": format(span.context.span_id, "016x"),
    }  # fmt: skip
    assert failed["timestamp"].endswith("Z")

    # uvicorn's logger as `andon up` leaves it (log_config=None): an earlier test in the same
    # process may have started uvicorn with its own logging config.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_log = logging.getLogger(name)
        monkeypatch.setattr(uvicorn_log, "handlers", [])
        monkeypatch.setattr(uvicorn_log, "propagate", True)
        monkeypatch.setattr(uvicorn_log, "disabled", False)
        monkeypatch.setattr(uvicorn_log, "level", logging.NOTSET)
    logging.getLogger("uvicorn.error").warning("server %s", "started")
    foreign = json.loads(lines.getvalue().splitlines()[-1])
    assert (foreign["event"], foreign["logger"], foreign["level"]) == (
        "server started", "uvicorn.error", "warning"
    )  # fmt: skip


def test_without_tracing_the_line_still_names_the_run(lines: io.StringIO, tmp_path: Path) -> None:
    run_id = run_failing_action(tmp_path, Tracing())
    (failed,) = [json.loads(x) for x in lines.getvalue().splitlines() if "action failed" in x]
    assert failed["run_id"] == run_id and "trace_id" not in failed


def test_unconfigured_andon_logs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not logs.configured()
    run_failing_action(tmp_path, Tracing())
    captured = capsys.readouterr()
    assert "action failed" not in captured.out + captured.err
