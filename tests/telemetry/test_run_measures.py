"""Per-run and per-step measures from the journal, on a simulated clock: touch time of
action attempts, queue time of a retry backoff and of an approval, wait time for an event,
SLA breach and escalation; served at ``/v1/runs/{id}/measures``. A run that ends by a
person's act (here an event) still gets its run and step spans."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.api.app import create_api
from andon.core.json import JsonValue
from andon.errors import ActionError
from andon.observability.settings import TelemetrySettings
from andon.observability.tracing import Tracing, trace_id_of
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.testing import publish
from backends import BACKENDS, settings_for

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
FLOW = """
id: measured
version: 1
roles: [QE, QM]
input: {type: object, properties: {lot: {type: string}}}
steps:
  - id: fetch
    kind: action
    action: test.slow_then_ok
    retry: {max_attempts: 3, initial: 10s, jitter: 0}
  - id: review
    kind: approval
    roles: [QE]
    due_in: 1h
    escalate: [{after: 90m, to: QM}]
  - {id: answer, kind: wait, event: supplier.answered, key: input.lot}
  - {id: done, kind: end, outcome: closed}
"""


@pytest.fixture(params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[bootstrap.App, ManualClock, InMemorySpanExporter]]:
    clock = ManualClock(T0)
    exporter = InMemorySpanExporter()
    with settings_for(str(request.param), tmp_path) as settings:
        built = bootstrap.build(
            settings,
            clock=clock,
            telemetry=TelemetrySettings(),
            tracing=Tracing.exporting(exporter, batch=False),
        )
        calls = []

        def slow_then_ok(call: ActionCall) -> JsonValue:
            calls.append(call.attempt)
            clock.advance(timedelta(seconds=2 if len(calls) == 1 else 3))  # the work
            if len(calls) == 1:
                raise ActionError("ERP busy")
            return {"ok": True}

        built.actions.register("test.slow_then_ok", slow_then_ok)
        admin = built.actor()
        publish(built.service, admin, FLOW)
        built.directory.create_user(admin, "qe", "Q. E.")
        built.directory.grant(admin, "qe", "QE")
        yield built, clock, exporter
        built.close()


def token_for(app: bootstrap.App, user: str = "admin", tenant: str = "default") -> dict[str, str]:
    issued = app.tokens.issue(app.actor(user, tenant), user, "measures")
    return {"Authorization": f"Bearer {issued.token}"}


def drain(app: bootstrap.App) -> None:
    worker = app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    worker.close()


def test_touch_queue_and_wait_time_per_step(
    app: tuple[bootstrap.App, ManualClock, InMemorySpanExporter],
) -> None:
    built, clock, exporter = app
    run_id = built.service.start_run(built.actor(), StartRequest("measured", {"lot": "L1"}))
    drain(built)  # attempt 1 takes 2 s and fails; the retry waits 10 s
    clock.advance(timedelta(seconds=10))
    drain(built)  # attempt 2 takes 3 s and succeeds; the approval opens (due in 1 h)
    clock.advance(timedelta(hours=2))
    drain(built)  # overdue at 1 h, escalated at 90 min (both fire now)
    built.service.decide_task(built.actor("qe"), TaskDecision(f"{run_id}:review:1"))
    clock.advance(timedelta(minutes=30))
    built.service.send_event(built.actor(), "supplier.answered", "L1", {})

    with TestClient(create_api(built)) as http:
        response = http.get(f"/v1/runs/{run_id}/measures", headers=token_for(built))
    assert response.status_code == 200, response.text
    measures = response.json()
    steps = {s["step"]: s for s in measures["steps"]}
    assert steps["fetch"] | {"entered_at": 0, "left_at": 0} == {
        "step": "fetch", "kind": "action", "visits": 1, "entered_at": 0, "left_at": 0,
        "status": "done", "attempts": 2, "failures": 1, "retries": 1, "incidents": 0,
        "escalations": 0, "sla_breaches": 0, "policy_violations": 0,
        "touch_s": 5.0, "queue_s": 10.0, "wait_s": 0.0,
    }  # fmt: skip
    review = steps["review"]
    assert (review["queue_s"], review["sla_breaches"], review["escalations"]) == (7200.0, 1, 1)
    assert steps["answer"]["wait_s"] == 1800.0
    assert (
        steps["answer"]["left_at"] == (T0 + timedelta(seconds=15, hours=2, minutes=30)).timestamp()
    )
    assert measures["status"] == "completed" and measures["outcome"] == "closed"
    assert measures["cycle_s"] == 5 + 10 + 7200 + 1800
    assert (measures["touch_s"], measures["queue_s"], measures["wait_s"]) == (5.0, 7210.0, 1800.0)

    spans = exporter.get_finished_spans()
    runs = [s for s in spans if s.name == "run measured"]
    assert len(runs) == 1 and runs[0].context.trace_id == trace_id_of(run_id)
    assert runs[0].end_time == int((T0 + timedelta(seconds=9015)).timestamp() * 1e9)
    assert {s.name for s in spans} >= {
        "step fetch",
        "step review",
        "step answer",
        "action test.slow_then_ok",
    }


def test_measures_of_another_tenants_run_are_not_found(
    app: tuple[bootstrap.App, ManualClock, InMemorySpanExporter],
) -> None:
    built, _, _ = app
    run_id = built.service.start_run(built.actor(), StartRequest("measured", {"lot": "L2"}))
    built.directory.create_tenant("acme-b", "Other")
    with TestClient(create_api(built)) as http:
        other = token_for(built, "admin@acme-b", "acme-b")
        assert http.get(f"/v1/runs/{run_id}/measures", headers=other).status_code == 404
        assert http.get(f"/v1/runs/{run_id}/measures").status_code == 401
