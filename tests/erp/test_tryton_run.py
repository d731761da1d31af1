"""Andon runs that raise, approve and read purchase requisitions in a real Tryton server.

The engine, its SQLite store and a worker run in this process on a ManualClock; the
``tryton.*`` actions talk JSON-RPC to a real ``trytond``. Retry backoff is passed by moving
the clock, never by sleeping, and every worker loop is bounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tryton_server import TrytonServer

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.connectors import tryton_actions
from andon.connectors.tryton import TrytonClient
from andon.core import codec
from andon.core.json import JsonObject, JsonValue
from andon.core.run import Run, RunStatus, StepStatus
from andon.errors import ActionError
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.runtime.tasks import TaskDecision
from andon.runtime.worker import Worker, WorkerSettings
from andon.testing import publish
from backends import settings_for

pytestmark = pytest.mark.erp

RETRY_INITIAL_S = 30  # the template's retry policy: 3 attempts, 30 s then 60 s, no jitter
MAX_ATTEMPTS = 3
RETRY = (
    f"{{max_attempts: {MAX_ATTEMPTS}, initial: {RETRY_INITIAL_S}s, factor: 2, max: 10m, jitter: 0}}"
)

TEMPLATE = f"""
id: tryton-requisition
version: 1
title: Purchase requisition raised and approved in Tryton
roles: [BUYER]
retention: purchasing
input:
  type: object
  required: [description, supplier, requester, lines]
  properties:
    description: {{type: string}}
    supplier: {{type: string}}
    requester: {{type: string}}
    supply_date: {{type: string}}
    lines:
      type: array
      minItems: 1
      items:
        type: object
        required: [product, quantity, unit_price]
        properties:
          product: {{type: string}}
          quantity: {{type: number}}
          unit_price: {{type: string}}
          description: {{type: string}}
steps:
  - id: raise_pr
    kind: action
    action: tryton.create_purchase_requisition
    input:
      description: input.description
      supplier: input.supplier
      requester: input.requester
      currency: "'EUR'"
      supply_date: input.supply_date
      lines: input.lines
    retry: {RETRY}
    timeout: 20s
  - id: buyer_approval
    kind: approval
    title: Buyer approves the requisition
    roles: [BUYER]
    outcomes: {{approve: null, reject: rejected}}
  - id: approve_pr
    kind: action
    action: tryton.approve_purchase_requisition
    input: {{requisition_id: steps.raise_pr.output.requisition_id}}
    retry: {RETRY}
    timeout: 20s
  - id: read_back
    kind: action
    action: tryton.read_purchase_requisition
    input: {{requisition_id: steps.raise_pr.output.requisition_id}}
    retry: {RETRY}
    timeout: 20s
  - {{id: approved, kind: end, outcome: approved}}
  - {{id: rejected, kind: end, outcome: rejected}}
"""


# ---- helpers ---------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.App]:
    """Andon on SQLite; each test registers the actions, then publishes the template."""
    with settings_for("sqlite", tmp_path) as settings:
        built = bootstrap.build(settings, clock=clock)
        try:
            yield built
        finally:
            built.close()


@pytest.fixture
def worker(app: bootstrap.App) -> Iterator[Worker]:
    # One thread, jitter draw fixed at the midpoint: every delay is the policy's base delay.
    w = app.worker(WorkerSettings(threads=1), owner="w-erp", draw=lambda: 0.5)
    yield w
    w.close()


def use_tryton(app: bootstrap.App, server: TrytonServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the shipped action module, point its actions at ``server`` and publish the
    template (which needs its actions registered)."""
    app.actions.load_modules(["andon.connectors.tryton_actions"])
    publish(app.service, app.actor(), TEMPLATE, "tryton-requisition.yaml")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)


def drain(worker: Worker, bound: int = 20) -> int:
    """Run the worker until nothing is due; fail rather than loop forever."""
    total = 0
    for _ in range(bound):
        done = worker.run_once()
        if not done:
            return total
        total += done
    raise AssertionError(f"worker still busy after {bound} batches ({total} items)")


def buyer(app: bootstrap.App) -> Actor:
    admin = app.actor()
    app.directory.create_user(admin, "u-buyer", "Bea Buyer")
    app.directory.grant(admin, "u-buyer", "BUYER")
    return app.actor("u-buyer")


def order(server: TrytonServer, description: str) -> JsonObject:
    info = server.template.info
    return {
        "description": description,
        "supplier": str(info["supplier"]),
        "requester": str(info["requester"]),
        "supply_date": "2026-12-01",
        "lines": [
            {"product": str(info["product_code"]), "quantity": 500, "unit_price": "0.12"},
            {"product": "Hex bolt M8", "quantity": 40, "unit_price": "0.5", "description": "spare"},
        ],
    }


def state(app: bootstrap.App, run_id: str) -> Run:
    row = app.service.run(app.actor(), run_id)
    run = codec.run_from_dict(row.state)
    assert run.status.value == row.status
    return run


def trace(app: bootstrap.App, run_id: str, step: str) -> list[JsonObject]:
    """The engine's notes about ``step``, in journal order, with the fact that carried each."""
    return [
        {"fact": row.type, **entry}
        for row in app.service.journal(app.actor(), run_id)
        for entry in row.trace
        if entry.get("step") == step
    ]


def failed_attempts(app: bootstrap.App, run_id: str, step: str) -> list[JsonObject]:
    return [
        row.body
        for row in app.service.journal(app.actor(), run_id)
        if row.type == "StepFailed" and row.body.get("step") == step
    ]


def approve_open_task(app: bootstrap.App, person: Actor, run_id: str) -> None:
    tasks = [t for t in app.service.tasks(person) if t.run_id == run_id]
    assert [(t.step, t.roles) for t in tasks] == [("buyer_approval", ["BUYER"])], tasks
    app.service.decide_task(person, TaskDecision(tasks[0].task_id, role="BUYER"))


def tryton_client(server: TrytonServer) -> TrytonClient:
    t = server.template
    return TrytonClient(server.url, server.database, t.login, t.password, 10.0)


def requisitions_of(server: TrytonServer, run_id: str) -> list[JsonObject]:
    """Every requisition in Tryton carrying a marker of this run's ``raise_pr`` (any visit),
    read directly."""
    marker = f"[andon:{run_id}:raise_pr:"
    escaped = marker.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%]"
    with tryton_client(server) as client:
        rows = client.search_read(
            "purchase.requisition",
            [("description", "like", pattern)],
            ["number", "state", "description", "approved_by.rec_name", "lines"],
        )
        for row in rows:
            ids = row["lines"]
            assert isinstance(ids, list)
            lines: list[JsonValue] = [
                *client.read(
                    "purchase.requisition.line",
                    [i for i in ids if isinstance(i, int)],
                    ["product.code", "quantity", "unit_price", "description"],
                )
            ]
            row["lines"] = lines
    assert all(marker in str(row["description"]) for row in rows), rows
    return rows


def line_facts(lines: JsonValue) -> list[tuple[JsonValue, ...]]:
    assert isinstance(lines, list)
    out = []
    for line in lines:
        assert isinstance(line, dict)
        product = line.get("product.")
        code = product.get("code") if isinstance(product, dict) else line.get("product")
        out.append((code, line["quantity"], line["unit_price"], line["description"]))
    return sorted(out, key=lambda fact: -float(str(fact[1])))


EXPECTED_LINES = [
    ("BOLT-M8", 500.0, "0.12", None),
    ("BOLT-M8", 40.0, "0.5", "spare"),
]


def assert_completed_once_in_tryton(
    app: bootstrap.App, server: TrytonServer, run_id: str, description: str
) -> None:
    """The run ended ``approved``; Tryton holds exactly one requisition of it, approved."""
    run = state(app, run_id)
    assert (run.status, run.outcome) == (RunStatus.COMPLETED, "approved"), (
        f"run should have completed as approved, is {run.status} ({run.outcome}); "
        f"incident at {run.incident!r}"
    )
    found = requisitions_of(server, run_id)
    assert len(found) == 1, f"expected exactly one requisition of run {run_id}, Tryton has {found}"
    [requisition] = found
    created = run.step("raise_pr").output
    assert isinstance(created, dict)
    assert requisition["id"] == created["requisition_id"]
    assert requisition["number"] == created["number"]
    # Tryton turns an approved requisition into purchase requests at once: "processing".
    assert requisition["state"] == "processing", requisition
    approver = requisition["approved_by."]
    assert isinstance(approver, dict) and approver["rec_name"] == "Ada Requester", requisition
    assert requisition["description"] == f"{description} [andon:{run_id}:raise_pr:1]"
    assert line_facts(requisition["lines"]) == EXPECTED_LINES


# ---- 1. the happy path -------------------------------------------------------------------


def test_a_run_raises_approves_and_reads_back_a_requisition_in_tryton(
    app: bootstrap.App,
    worker: Worker,
    tryton: TrytonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_tryton(app, tryton, monkeypatch)
    person = buyer(app)
    description = "M8 bolts for line 3 (run test)"
    run_id = app.service.start_run(
        app.actor(), StartRequest("tryton-requisition", order(tryton, description))
    )

    assert drain(worker) == 1, "the create action should have run once"
    run = state(app, run_id)
    assert run.status is RunStatus.RUNNING and run.active == ("buyer_approval",), run
    created = run.step("raise_pr").output
    assert isinstance(created, dict)
    assert (created["state"], created["created"]) == ("draft", True), created
    # Nothing is approved in Tryton before the person decides.
    [draft] = requisitions_of(tryton, run_id)
    assert draft["state"] == "draft"

    approve_open_task(app, person, run_id)
    assert drain(worker) == 2, "approve and read back should each have run once"

    run = state(app, run_id)
    approved = run.step("approve_pr").output
    assert approved == {
        "requisition_id": created["requisition_id"],
        "number": created["number"],
        "state": "processing",
    }
    read = run.step("read_back").output
    assert isinstance(read, dict)
    assert read["description"] == f"{description} [andon:{run_id}:raise_pr:1]"
    assert (read["state"], read["approved_by"], read["employee"]) == (
        "processing",
        "Ada Requester",
        "Ada Requester",
    )
    assert (read["currency"], read["total_amount"], read["supply_date"]) == (
        "EUR",
        "80.00",
        "2026-12-01",
    )
    assert line_facts(read["lines"]) == EXPECTED_LINES
    assert_completed_once_in_tryton(app, tryton, run_id, description)

    rows = app.service.journal(app.actor(), run_id)
    decided = [(r.actor, r.body.get("outcome")) for r in rows if r.type == "TaskCompleted"]
    assert decided == [("u-buyer", "approve")], decided
    journal = [row.type for row in rows]
    assert journal == [
        "RunStarted",
        "StepSucceeded",
        "TaskCompleted",
        "StepSucceeded",
        "StepSucceeded",
    ], journal
    attempts = [(r.body["step"], r.body["attempt"]) for r in rows if r.type == "StepSucceeded"]
    assert attempts == [("raise_pr", 1), ("approve_pr", 1), ("read_back", 1)], attempts


# ---- 2. an outage mid-run ----------------------------------------------------------------


def fail_until_incident(
    app: bootstrap.App, worker: Worker, clock: ManualClock, run_id: str, step: str
) -> None:
    """With Tryton down, run ``step`` through its retry policy into an incident, checking
    each attempt and each backoff delay on the way."""
    assert drain(worker) == 1, f"attempt 1 of {step} should have run"
    for attempt in range(2, MAX_ATTEMPTS + 1):
        delay = RETRY_INITIAL_S * 2 ** (attempt - 2)
        run = state(app, run_id)
        assert run.step(step).status is StepStatus.RETRYING, (
            f"{step} should be waiting to retry after attempt {attempt - 1}: {run.step(step)}"
        )
        clock.advance(timedelta(seconds=delay - 1))
        assert drain(worker) == 0, f"attempt {attempt} of {step} ran before its {delay}s backoff"
        clock.advance(timedelta(seconds=1))
        # The retry timer fires, then the attempt it starts runs.
        assert drain(worker) == 2, f"attempt {attempt} of {step} should run after {delay}s"

    failures = failed_attempts(app, run_id, step)
    assert [f["attempt"] for f in failures] == list(range(1, MAX_ATTEMPTS + 1)), failures
    for failure in failures:
        assert failure["permanent"] is False, f"an outage must be retryable: {failure}"
        assert "cannot reach" in str(failure["error"]), failure
    notes = [(e["change"], e.get("attempt"), e.get("delay_s")) for e in trace(app, run_id, step)]
    retries = [n for n in notes if n[0] == "retrying"]
    assert retries == [
        ("retrying", 1, float(RETRY_INITIAL_S)),
        ("retrying", 2, float(2 * RETRY_INITIAL_S)),
    ], notes
    assert notes[-1][0] == "incident", notes

    row = app.service.run(app.actor(), run_id)
    run = state(app, run_id)
    assert row.status == "incident", f"run should be an incident, is {row.status}"
    incidents = [r.run_id for r in app.service.runs(app.actor(), status="incident")]
    assert incidents == [run_id], f"the operator's incident list should show the run: {incidents}"
    assert run.incident == step
    parked = run.step(step)
    assert (parked.status, parked.attempt, parked.tries) == (
        StepStatus.FAILED,
        MAX_ATTEMPTS,
        MAX_ATTEMPTS,
    ), parked
    assert parked.error is not None and "cannot reach" in parked.error
    # An incident waits for an operator: no further attempt comes by itself.
    clock.advance(timedelta(hours=6))
    assert drain(worker) == 0, "nothing may run while the run is an incident"


@pytest.mark.parametrize("down_at", ["raise_pr", "approve_pr"])
def test_a_tryton_outage_is_retried_then_parked_and_the_retried_incident_completes_once(
    down_at: str,
    app: bootstrap.App,
    worker: Worker,
    clock: ManualClock,
    own_tryton: TrytonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_tryton(app, own_tryton, monkeypatch)
    person = buyer(app)
    description = f"M8 bolts, Tryton down at {down_at}"
    run_id = app.service.start_run(
        app.actor(), StartRequest("tryton-requisition", order(own_tryton, description))
    )
    if down_at == "approve_pr":
        assert drain(worker) == 1
        approve_open_task(app, person, run_id)
        assert len(requisitions_of(own_tryton, run_id)) == 1

    own_tryton.stop()
    fail_until_incident(app, worker, clock, run_id, down_at)

    own_tryton.start()
    if down_at == "raise_pr":
        assert requisitions_of(own_tryton, run_id) == [], "failed attempts must create nothing"
    app.service.retry_incident(app.actor(), run_id, "Tryton is back")
    assert state(app, run_id).status is RunStatus.RUNNING
    if down_at == "raise_pr":
        assert drain(worker) == 1, "the retried create should have run once"
        approve_open_task(app, person, run_id)
    assert drain(worker) == 2, "approve and read back should each have run once"

    assert_completed_once_in_tryton(app, own_tryton, run_id, description)
    run = state(app, run_id)
    resumed = run.step(down_at)
    assert (resumed.attempt, resumed.tries) == (MAX_ATTEMPTS + 1, 1), (
        f"the retried incident should be attempt {MAX_ATTEMPTS + 1} (first of a new visit): "
        f"{resumed}"
    )
    notes = [e["change"] for e in trace(app, run_id, down_at)]
    assert notes.count("incident_retried") == 1 and notes[-1] == "succeeded", notes
    keys = [
        (row.body["step"], row.body["attempt"])
        for row in app.service.journal(app.actor(), run_id)
        if row.type in ("StepSucceeded", "StepFailed")
    ]
    done_before = [("raise_pr", 1)] if down_at == "approve_pr" else []
    assert keys == [
        *done_before,
        *[(down_at, n) for n in range(1, MAX_ATTEMPTS + 2)],
        *([("approve_pr", 1)] if down_at == "raise_pr" else []),
        ("read_back", 1),
    ], keys


# ---- 3. a lost answer --------------------------------------------------------------------


def test_an_attempt_whose_answer_was_lost_does_not_create_a_second_requisition(
    app: bootstrap.App,
    worker: Worker,
    clock: ManualClock,
    tryton: TrytonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt reaches Tryton but its answer never comes back (a timeout after
    the commit); the retry finds the requisition by its marker instead of making another."""
    for name, value in tryton.env().items():
        monkeypatch.setenv(name, value)
    calls: list[str] = []

    def lossy_create(call: ActionCall) -> JsonValue:
        calls.append(call.idempotency_key)
        result = tryton_actions.create_purchase_requisition(call)
        if call.attempt == 1:
            raise ActionError("Tryton purchase.requisition.create timed out after 20.0s")
        return result

    app.actions.register("tryton.create_purchase_requisition", lossy_create)
    app.actions.register(
        "tryton.approve_purchase_requisition", tryton_actions.approve_purchase_requisition
    )
    app.actions.register(
        "tryton.read_purchase_requisition", tryton_actions.read_purchase_requisition
    )
    publish(app.service, app.actor(), TEMPLATE, "tryton-requisition.yaml")
    description = "M8 bolts, first answer lost"
    run_id = app.service.start_run(
        app.actor(), StartRequest("tryton-requisition", order(tryton, description))
    )
    assert drain(worker) == 1
    assert state(app, run_id).step("raise_pr").status is StepStatus.RETRYING
    assert len(requisitions_of(tryton, run_id)) == 1, "attempt 1 did reach Tryton"
    clock.advance(timedelta(seconds=RETRY_INITIAL_S))
    assert drain(worker) == 2, "the retry timer and attempt 2 should have run"

    assert calls == [f"{run_id}:raise_pr:1"] * 2, calls  # one key for both attempts
    output = state(app, run_id).step("raise_pr").output
    assert isinstance(output, dict) and output["created"] is False, (
        f"attempt 2 should have found attempt 1's requisition, not made one: {output}"
    )
    approve_open_task(app, buyer(app), run_id)
    assert drain(worker) == 2
    assert_completed_once_in_tryton(app, tryton, run_id, description)
