"""The runtime on PostgreSQL: a flow end to end, concurrent workers claiming with SKIP
LOCKED, duties refusals, inbox deduplication and audit verification."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.config import Settings, StoreSettings
from andon.core.json import JsonValue
from andon.errors import GovernanceError
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.runtime.worker import WorkerSettings
from andon.testing import T0, person, publish
from pg_support import fresh_database

FLOW = """
id: flow
version: 1
roles: [QE]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: block, kind: action, action: erp.block, input: {lot: input.lot}}
  - {id: notify, kind: action, action: erp.block, input: {lot: input.lot}}
  - {id: review, kind: approval, roles: [QE], when: "input.lot == 'L-0'"}
  - {id: answer, kind: wait, event: supplier.answered, key: input.lot, when: "input.lot == 'L-0'"}
  - {id: done, kind: end, outcome: closed}
"""


@pytest.fixture
def pg_app(tmp_path: Path) -> Iterator[bootstrap.App]:
    with fresh_database() as url:
        settings = Settings(
            store=StoreSettings(url),
            signing_key=tmp_path / "signing-key",
            secrets_key=tmp_path / "secrets-key",
        )
        app = bootstrap.build(settings, clock=ManualClock(T0))
        try:
            yield app
        finally:
            app.close()


def test_a_flow_runs_end_to_end_and_verifies_on_postgresql(pg_app: bootstrap.App) -> None:
    effects: list[str] = []

    def block(call: ActionCall) -> JsonValue:
        effects.append(call.idempotency_key)
        return {"blocked": True}

    pg_app.actions.register("erp.block", block)
    admin = pg_app.actor()
    publish(pg_app.service, admin, FLOW)
    starter = person(pg_app, "qe0", "QE")
    run_id = pg_app.service.start_run(starter, StartRequest("flow", {"lot": "L-0"}))
    worker = pg_app.worker(WorkerSettings(threads=1))
    while worker.run_once():
        pass
    qe = person(pg_app, "qe1", "QE")
    with pytest.raises(GovernanceError, match="initiator-cannot-approve"):
        pg_app.service.decide_task(starter, TaskDecision(f"{run_id}:review:1"))
    pg_app.service.decide_task(qe, TaskDecision(f"{run_id}:review:1"))
    first = pg_app.service.send_event(admin, "supplier.answered", "L-0", {}, event_id="e1")
    again = pg_app.service.send_event(admin, "supplier.answered", "L-0", {}, event_id="e1")
    assert (first.reached, again.duplicate) == (1, True)
    run = pg_app.service.run(admin, run_id)
    assert (run.status, run.outcome) == ("completed", "closed")
    assert effects == [f"{run_id}:block:1", f"{run_id}:notify:2"]  # entered by seqs 1 and 2
    kinds = [f.type for f in pg_app.service.journal(admin, run_id)]
    assert "PolicyViolated" in kinds and kinds[-1] == "EventReceived"
    assert pg_app.auditor.checkpoint() is not None
    report = pg_app.auditor.verify()
    assert report.ok, report.problems


def test_concurrent_workers_run_each_action_once(pg_app: bootstrap.App) -> None:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def block(call: ActionCall) -> JsonValue:
        with lock:
            seen[call.idempotency_key] += 1
        return {"blocked": True}

    pg_app.actions.register("erp.block", block)
    admin = pg_app.actor()
    publish(pg_app.service, admin, FLOW)
    runs = pg_app.service.start_runs(
        admin, [StartRequest("flow", {"lot": f"L-{i + 1}"}) for i in range(60)]
    )

    def drain(owner: str) -> None:
        worker = pg_app.worker(WorkerSettings(threads=1, batch=8), owner=owner)
        idle = 0
        while idle < 3:
            idle = 0 if worker.run_once() else idle + 1

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(seen) == 120 and set(seen.values()) == {1}
    done = {r.run_id: r.status for r in pg_app.service.runs(admin, limit=500)}
    assert all(done[r] == "completed" for r in runs)
    for run_id in runs[:10]:
        seqs = [f.seq for f in pg_app.service.journal(admin, run_id)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_another_process_commit_wakes_an_idle_worker_at_once(tmp_path: Path) -> None:
    with fresh_database() as url:
        settings = Settings(
            store=StoreSettings(url),
            signing_key=tmp_path / "signing-key",
            secrets_key=tmp_path / "secrets-key",
        )
        api, workers = bootstrap.build(settings), bootstrap.build(settings)
        try:
            # Every process of a deployment loads the same actions; the API's are checked.
            for process in (api, workers):
                process.actions.register("erp.block", lambda call: {"blocked": True})
            admin = api.actor()
            publish(api.service, admin, FLOW)
            stop = threading.Event()
            worker = workers.worker(WorkerSettings(threads=1, poll_s=10.0))  # no help from polling
            thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
            thread.start()
            time.sleep(0.5)  # the worker is idle, listening
            started = time.monotonic()
            run_id = api.service.start_run(admin, StartRequest("flow", {"lot": "L-9"}))
            assert api.service.wait_until_ended(admin, run_id, 8.0)
            waited = time.monotonic() - started
            print(f"\nrun ended {waited:.2f} s after another process started it (poll 10 s)")
            assert waited < 3.0
        finally:
            stop.set()
            workers.service.wake()
            thread.join(timeout=15)
            worker.close()
            workers.close()
            api.close()
