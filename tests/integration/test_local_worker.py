"""The in-process worker: actions born leased to it, handed over without a claim."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonValue
from andon.runtime.clock import ManualClock
from andon.runtime.service import LocalWorker, StartRequest
from andon.runtime.worker import WorkerSettings
from andon.store.base import OutboxItem, RunRow
from andon.testing import publish, tenant_reader
from backends import rows, settings_for

FLOW = """
id: quick
version: 1
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: block, kind: action, action: erp.block, input: {lot: input.lot}}
  - {id: hold, kind: wait, event: lab.result, key: input.lot}
  - {id: done, kind: end, outcome: closed}
"""
SHORT = FLOW.replace("version: 1", "version: 2").replace(
    "  - {id: hold, kind: wait, event: lab.result, key: input.lot}\n", ""
)


def outbox_rows(app: bootstrap.App) -> list[tuple[str, str | None]]:
    return rows(app, "SELECT run_id, lease_owner FROM outbox WHERE kind = 'action'")


def attach(app: bootstrap.App, owner: str, run_prefix: str = "") -> list[OutboxItem]:
    """Attach a stand-in local worker; return the list it is handed items into."""
    app.actions.register("erp.block", lambda call: {"blocked": True})
    publish(app.service, app.actor(), FLOW)
    handed: list[OutboxItem] = []
    app.service.attach_worker(LocalWorker(owner, 30.0, run_prefix, handed.extend))
    return handed


def test_actions_are_born_leased_to_the_attached_worker(app: bootstrap.App, tmp_path: Path) -> None:
    handed = attach(app, "w-local")

    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))

    assert [(i.run_id, i.key) for i in handed] == [(run_id, "action:block:1")]
    assert outbox_rows(app) == [(run_id, "w-local")]
    # Nobody else can claim it while the lease holds.
    other = app.worker(WorkerSettings(threads=1), owner="w-other")
    assert other.run_once() == 0


def test_without_a_local_worker_actions_wait_unleased_for_any_claim(
    app: bootstrap.App, tmp_path: Path
) -> None:
    handed = attach(app, "w-local")
    app.service.detach_worker("w-local")

    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))

    assert handed == []
    assert outbox_rows(app) == [(run_id, None)]


def test_a_run_prefix_keeps_other_runs_out_of_the_hand_over(
    app: bootstrap.App, tmp_path: Path
) -> None:
    handed = attach(app, "w-demo", "demo-")

    mine = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}, run_id="demo-1"))
    other = app.service.start_run(
        app.actor(), StartRequest("quick", {"lot": "L2"}, run_id="plant-1")
    )

    assert [i.run_id for i in handed] == [mine]
    assert sorted(outbox_rows(app)) == [(mine, "w-demo"), (other, None)]


def test_a_handed_over_action_whose_worker_died_is_taken_again_after_the_lease(
    app: bootstrap.App, clock: ManualClock
) -> None:
    calls: list[str] = []

    def block(call: ActionCall) -> JsonValue:
        calls.append(call.idempotency_key)
        return {"blocked": True}

    app.actions.register("erp.block", block)
    publish(app.service, app.actor(), SHORT)
    app.service.attach_worker(LocalWorker("w-dead", 30.0, "", lambda items: None))
    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))
    app.service.detach_worker("w-dead")
    survivor = app.worker(WorkerSettings(threads=1), owner="w-survivor")
    assert survivor.run_once() == 0  # still leased to the dead worker

    clock.advance(timedelta(seconds=31))
    while survivor.run_once():
        pass

    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None and row.status == "completed"
    assert calls == [f"{run_id}:block:1"]


def test_a_running_worker_completes_runs_and_wakes_the_waiter(app: bootstrap.App) -> None:
    app.actions.register("erp.block", lambda call: {"blocked": True})
    publish(app.service, app.actor(), SHORT)
    worker = app.worker(WorkerSettings(threads=1, poll_s=5.0))  # no polling to hide behind
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        run_ids = [
            app.service.start_run(app.actor(), StartRequest("quick", {"lot": f"L{i}"}))
            for i in range(20)
        ]
        assert all(app.service.wait_until_ended(app.actor(), run_id, 10.0) for run_id in run_ids)
    finally:
        stop.set()
        app.service.wake()
        thread.join(timeout=10)
        worker.close()
    with tenant_reader(app) as reader:
        assert {reader.run(r).status for r in run_ids} == {"completed"}  # type: ignore[union-attr]
        assert reader.outbox_depth() == 0


def test_waiting_for_a_run_that_does_not_end_times_out(app: bootstrap.App) -> None:
    app.actions.register("erp.block", lambda call: {"blocked": True})
    publish(app.service, app.actor(), FLOW)
    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))
    assert app.service.wait_until_ended(app.actor(), run_id, 0.05) is False


def test_a_stopping_worker_gives_back_the_work_it_has_not_started(
    app: bootstrap.App, tmp_path: Path
) -> None:
    app.actions.register("erp.block", lambda call: {"blocked": True})
    publish(app.service, app.actor(), SHORT)
    leaving = app.worker(WorkerSettings(threads=1), owner="w-leaving")
    app.service.attach_worker(LocalWorker("w-leaving", 30.0, "", leaving._handed.extend))
    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))
    app.service.detach_worker("w-leaving")
    assert outbox_rows(app) == [(run_id, "w-leaving")]
    leaving.close()  # SIGTERM: nothing started, so nothing is kept
    assert outbox_rows(app) == [(run_id, None)]
    other = app.worker(WorkerSettings(threads=1), owner="w-next")
    assert other.run_once() == 1  # at once, not after the 30 s lease


def test_a_slow_action_keeps_its_lease_and_is_not_taken_over(backend: str, tmp_path: Path) -> None:
    """Real time here: the lease is 0.3 s and the action takes 1.2 s."""
    with settings_for(backend, tmp_path) as settings:
        app = bootstrap.build(settings)
        try:
            calls, taken, status, run_id = race_a_slow_action(app)
        finally:
            app.close()
    assert calls == [f"{run_id}:block:1"], calls  # nobody else ran it meanwhile
    assert sum(taken) == 0
    assert status is not None and status.status == "completed"


def race_a_slow_action(app: bootstrap.App) -> tuple[list[str], list[int], RunRow | None, str]:
    calls: list[str] = []

    def slow(call: ActionCall) -> JsonValue:
        calls.append(call.idempotency_key)
        time.sleep(1.2)
        return {"blocked": True}

    app.actions.register("erp.block", slow)
    publish(app.service, app.actor(), SHORT)
    run_id = app.service.start_run(app.actor(), StartRequest("quick", {"lot": "L1"}))
    busy = app.worker(WorkerSettings(threads=1, lease_s=0.3), owner="w-busy")
    rival = app.worker(WorkerSettings(threads=1, lease_s=0.3), owner="w-rival")
    taken: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            taken.append(rival.run_once())
            time.sleep(0.05)

    busy_thread = threading.Thread(target=busy.run_once)
    busy_thread.start()
    time.sleep(0.1)  # the busy worker has claimed and started
    spy = threading.Thread(target=watch, daemon=True)
    spy.start()
    busy_thread.join(timeout=10)
    watching.set()
    spy.join(timeout=5)
    busy.close()
    rival.close()
    with app.service.store.reader() as reader:
        status = reader.scoped("default").run(run_id)
    return calls, taken, status, run_id
