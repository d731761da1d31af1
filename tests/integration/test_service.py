"""The runtime service and worker on a real database, SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonValue
from andon.errors import ActionError, ConflictError, GovernanceError, InputError, NotFoundError
from andon.governance import audit
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.testing import accept_any, drain, person, publish, tenant_reader
from backends import rows, tamper

FLOW = """
id: flow
version: {version}
roles: [QE, QAM]
parameters:
  sla: {{type: duration, default: 4h}}
input:
  type: object
  required: [lot]
  properties:
    lot: {{type: string}}
    qty: {{type: integer, minimum: 1}}
steps:
  - {{id: block, kind: action, action: erp.block, input: {{lot: input.lot}}, retry: {{max_attempts: 2, initial: 1s}}}}
  - id: review
    kind: approval
    roles: [QE]
    due_in: $sla
    escalate: [{{after: 2h, to: QAM}}]
  - id: await_answer
    kind: wait
    event: supplier.answered
    key: input.lot
  - {{id: done, kind: end, outcome: {outcome}}}
"""


def flow(version: int = 1, outcome: str = "closed") -> str:
    return FLOW.format(version=version, outcome=outcome)


def journal_types(app: bootstrap.App, run_id: str) -> list[str]:
    with tenant_reader(app) as reader:
        return [row.type for row in reader.journal(run_id)]


def open_task(app: bootstrap.App, run_id: str) -> str:
    with tenant_reader(app) as reader:
        tasks = [t for t in reader.tasks("open", None, 100) if t.run_id == run_id]
    assert len(tasks) == 1
    return tasks[0].task_id


@pytest.fixture
def blocked(app: bootstrap.App) -> list[str]:
    calls: list[str] = []

    def block(call: ActionCall) -> JsonValue:
        calls.append(call.idempotency_key)
        return {"blocked": call.input["lot"]}

    app.actions.register("erp.block", block)
    publish(app.service, app.actor(), flow(), "flow.yaml")
    return calls


def test_a_run_goes_through_action_approval_and_event_to_its_end(
    app: bootstrap.App, blocked: list[str]
) -> None:
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1", "qty": 3}))
    drain(app)
    assert blocked == [f"{run_id}:block:1"]
    app.service.decide_task(
        person(app, "u-qe", "QE"), TaskDecision(open_task(app, run_id), role="QE")
    )
    assert (
        app.service.send_event(
            app.actor(), "supplier.answered", "L1", {"ok": True}, event_id="e1"
        ).reached
        == 1
    )
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None and (row.status, row.outcome) == ("completed", "closed")
    assert journal_types(app, run_id) == [
        "RunStarted",
        "StepSucceeded",
        "TaskCompleted",
        "EventReceived",
    ]


def test_bad_input_names_the_field_and_writes_nothing(
    app: bootstrap.App, blocked: list[str]
) -> None:
    with pytest.raises(InputError, match=r"input\.qty: 0 is less than the minimum of 1"):
        app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1", "qty": 0}))
    with pytest.raises(InputError, match='input: "lot" is a required property'):
        app.service.start_run(app.actor(), StartRequest("flow", {}))
    with tenant_reader(app) as reader:
        assert reader.runs(None, 10) == []
        assert reader.outbox_depth() == 0


def test_versions_are_immutable_and_runs_keep_their_version(
    app: bootstrap.App, blocked: list[str]
) -> None:
    publish(app.service, app.actor(), flow(), "flow.yaml")  # same text: a no-op
    with pytest.raises(ConflictError, match="immutable"):
        publish(app.service, app.actor(), flow(outcome="other"), "flow.yaml")
    old = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    publish(app.service, app.actor(), flow(version=2, outcome="closed_v2"), "flow.yaml")
    new = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L2"}))
    drain(app)
    for run_id, lot in ((old, "L1"), (new, "L2")):
        app.service.decide_task(person(app, "u-qe", "QE"), TaskDecision(open_task(app, run_id)))
        app.service.send_event(app.actor(), "supplier.answered", lot, {})
    with tenant_reader(app) as reader:
        rows = {r.run_id: r for r in reader.runs(None, 10)}
    assert (rows[old].template_version, rows[old].outcome) == (1, "closed")
    assert (rows[new].template_version, rows[new].outcome) == (2, "closed_v2")


def test_overlay_sets_parameters_and_the_run_pins_its_digest(
    app: bootstrap.App, blocked: list[str], clock: ManualClock
) -> None:
    overlay = app.service.publish_overlay(
        app.actor(), "template: flow\nplant: DE-STR\nparameters:\n  sla: 1h\n", "flow.DE-STR.yaml"
    )
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}, plant="DE-STR"))
    drain(app)
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
        task = reader.tasks("open", None, 10)[0]
    assert row is not None and row.overlay_digest == overlay.digest
    assert task.due_at == (clock.now() + timedelta(hours=1)).timestamp()


def test_overlay_with_unknown_or_mistyped_parameter_is_refused(
    app: bootstrap.App, blocked: list[str]
) -> None:
    with pytest.raises(Exception, match="has no parameter 'slaa'"):
        app.service.publish_overlay(
            app.actor(), "template: flow\nplant: DE-STR\nparameters: {slaa: 1h}\n"
        )
    with pytest.raises(Exception, match="bad duration"):
        app.service.publish_overlay(
            app.actor(), "template: flow\nplant: DE-STR\nparameters: {sla: soon}\n"
        )


def test_escalation_timer_fires_on_the_clock_and_widens_the_task(
    app: bootstrap.App, blocked: list[str], clock: ManualClock
) -> None:
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    clock.advance(timedelta(hours=1))
    assert drain(app) == 0  # nothing due yet
    clock.advance(timedelta(hours=1, seconds=1))
    assert drain(app) == 1
    with tenant_reader(app) as reader:
        task = reader.tasks("open", "QAM", 10)
    assert [t.escalated_to for t in task] == [["QAM"]]
    assert journal_types(app, run_id)[-1] == "TimerFired"


def test_a_worker_that_lost_its_lease_cannot_commit(
    app: bootstrap.App, blocked: list[str], clock: ManualClock
) -> None:
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    slow = app.worker(WorkerSettings(threads=1, lease_s=5), owner="slow")
    now = clock.now().timestamp()
    with app.service.store.transaction() as tx:
        stale = tx.claim("slow", now, 5, 10)
    assert len(stale) == 1
    clock.advance(timedelta(seconds=6))  # the lease expires; another worker takes over
    assert drain(app) == 1
    outcome = slow._execute(stale[0])
    assert slow._deliver([(stale[0], outcome)]) == []
    assert journal_types(app, run_id).count("StepSucceeded") == 1


def test_duplicate_events_are_taken_once_and_unmatched_ones_are_kept(
    app: bootstrap.App, blocked: list[str]
) -> None:
    accept_any(app.service, app.actor(), "supplier.nobody")
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    app.service.decide_task(person(app, "u-qe", "QE"), TaskDecision(open_task(app, run_id)))
    assert (
        app.service.send_event(
            app.actor(), "supplier.nobody", "L9", {"x": 1}, event_id="n1"
        ).reached
        == 0
    )
    for _ in range(5):
        app.service.send_event(
            app.actor(), "supplier.answered", "L1", {}, source="mqtt", event_id="e1"
        )
    assert journal_types(app, run_id).count("EventReceived") == 1
    inbox = rows(app, "SELECT event_id, matched_runs FROM inbox ORDER BY event_id")
    assert inbox == [("e1", 1), ("n1", 0)]


def test_failed_action_parks_an_incident_that_an_operator_retries(app: bootstrap.App) -> None:
    attempts: list[tuple[int, str]] = []

    def flaky(call: ActionCall) -> JsonValue:
        attempts.append((call.attempt, call.idempotency_key))
        if len(attempts) < 3:
            raise ActionError("ERP down")
        return {}

    app.actions.register("erp.block", flaky)
    publish(app.service, app.actor(), flow(), "flow.yaml")
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    app.service.clock.advance(timedelta(seconds=2))  # type: ignore[attr-defined]
    drain(app)
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None and row.status == "incident"
    app.service.retry_incident(app.actor(), run_id)
    drain(app)
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None and row.status == "running"
    # the operator's retry resumes the failed visit: its effect may have happened
    assert attempts == [(n, f"{run_id}:block:1") for n in (1, 2, 3)]


def test_cancel_closes_tasks_and_removes_timers(app: bootstrap.App, blocked: list[str]) -> None:
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    app.service.cancel(app.actor(), run_id, "duplicate NCR")
    with tenant_reader(app) as reader:
        assert reader.tasks("open", None, 10) == []
        assert reader.outbox_depth() == 0
    with pytest.raises(ConflictError, match="already ended"):
        app.service.cancel(app.actor(), run_id)


def test_one_person_cannot_decide_twice_and_closed_tasks_refuse(
    app: bootstrap.App, blocked: list[str]
) -> None:
    publish(
        app.service,
        app.actor(),
        flow(version=2).replace(
            "roles: [QE]\n    due_in", "roles: [QE]\n    quorum: 2\n    due_in"
        ),
        "v2.yaml",
    )
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    task = open_task(app, run_id)
    app.service.decide_task(person(app, "u-1", "QE"), TaskDecision(task))
    with pytest.raises(GovernanceError, match=r"already decided .* \[distinct-approvers\]"):
        app.service.decide_task(person(app, "u-1", "QE"), TaskDecision(task))
    assert journal_types(app, run_id)[-1] == "PolicyViolated"
    app.service.decide_task(person(app, "u-2", "QE"), TaskDecision(task))
    with pytest.raises(ConflictError, match="closed"):
        app.service.decide_task(person(app, "u-3", "QE"), TaskDecision(task))
    with pytest.raises(NotFoundError):
        app.service.decide_task(person(app, "u-3", "QE"), TaskDecision("no-such-task"))


def test_tampering_with_a_journal_row_breaks_the_chain_at_that_row(
    app: bootstrap.App, blocked: list[str]
) -> None:
    run_id = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    drain(app)
    app.service.decide_task(person(app, "u-qe", "QE"), TaskDecision(open_task(app, run_id)))

    def chain() -> list[tuple[int, JsonValue, str]]:
        with tenant_reader(app) as reader:
            return [
                (
                    r.seq,
                    audit.journal_record(
                        "default", r.run_id, r.seq, r.type, r.body, list(r.trace), r.actor, r.at
                    ),
                    r.hash,
                )
                for r in reader.journal(run_id)
            ]

    assert audit.verify(chain()) is None
    [(stored,)] = rows(app, "SELECT body FROM run_events WHERE run_id=:r AND seq=2", r=run_id)
    body = json.loads(stored)
    body["output"] = {"blocked": "L2"}
    tamper(
        app,
        "UPDATE run_events SET body=:b WHERE run_id=:r AND seq=2",
        {"b": json.dumps(body), "r": run_id},
    )
    broken = audit.verify(chain())
    assert broken is not None and broken.seq == 2


def test_unknown_template_and_run_are_clear_errors(app: bootstrap.App) -> None:
    with pytest.raises(NotFoundError, match="no published template 'nope'"):
        app.service.start_run(app.actor(), StartRequest("nope", {}))
    with pytest.raises(NotFoundError, match="no run 'r-404'"):
        app.service.cancel(app.actor(), "r-404")


def test_database_path_in_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    from andon.config import Settings, StoreSettings
    from andon.errors import StoreError

    with pytest.raises(StoreError, match="cannot open database"):
        bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{tmp_path}/no/such/dir.db")))


def test_a_worker_scoped_to_a_run_prefix_leaves_other_runs_alone(
    app: bootstrap.App, blocked: list[str]
) -> None:
    other = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    mine = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L2"}, run_id="demo-1"))
    scoped = app.worker(WorkerSettings(threads=1, run_prefix="demo-"))
    while scoped.run_once():
        pass
    assert blocked == [f"{mine}:block:1"]
    assert journal_types(app, other) == ["RunStarted"]
