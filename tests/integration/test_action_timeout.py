"""A step's timeout is enforced while its action runs: one action hanging in a worker's
batch is abandoned at its timeout, recorded as timed out, and holds up none of the other
runs in the batch; the worker keeps its capacity and drops the hung call's late result.
A step without a timeout gets the default one (ANDON_ACTION_TIMEOUT), and while its call
hangs, the rest of its batch and runs started later go on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonValue
from andon.runtime.service import Andon, StartRequest
from andon.runtime.worker import Worker, WorkerSettings
from andon.testing import publish
from backends import settings_for

FLOW = """
id: gate-flow
version: 1
input:
  type: object
  required: [n]
  properties: {n: {type: integer}}
steps:
  - id: work
    kind: action
    action: test.gate
    input: {n: input.n}
    timeout: 2s
    retry: {max_attempts: 1}
  - {id: done, kind: end, outcome: worked}
"""
UNTIMED = """
id: hang-flow
version: 1
input:
  type: object
  required: [n]
  properties: {n: {type: integer}}
steps:
  - id: work
    kind: action
    action: test.hang
    input: {n: input.n}
    retry: {max_attempts: 1}
  - {id: done, kind: end, outcome: worked}
"""
THREADS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bootstrap.App]:
    with settings_for(request.param, tmp_path) as settings:
        built = bootstrap.build(settings)
        yield built
        built.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def short_default(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bootstrap.App]:
    """An installation whose action steps without a timeout get one of 1 s."""
    with settings_for(request.param, tmp_path, action_timeout_s=1.0) as settings:
        built = bootstrap.build(settings)
        yield built
        built.close()


def status_after_running(app: bootstrap.App, run_id: str) -> str:
    """The run's status once it no longer runs (an incident is not an end to wait for)."""
    service, admin = app.service, app.actor()
    while (status := service.run(admin, run_id).status) == "running":
        seen = service.generation
        if service.run(admin, run_id).status == "running":
            service.wait_for_work(1.0, since=seen)
    return status


def test_a_hung_action_times_out_at_its_timeout_without_holding_up_its_batch(
    app: bootstrap.App,
) -> None:
    gate = threading.Event()  # the hung action waits for it; set only at the very end
    returned = threading.Event()

    def action(call: ActionCall) -> JsonValue:
        if call.input["n"] == 0:
            gate.wait(60)
            returned.set()
            return {"late": True}
        return {"n": call.input["n"]}

    app.actions.register("test.gate", action)
    publish(app.service, app.actor(), FLOW, "gate-flow.yaml")
    service, admin = app.service, app.actor()
    runs = service.start_runs(admin, [StartRequest("gate-flow", {"n": n}) for n in range(20)])
    hung, others = runs[0], runs[1:]
    worker = app.worker(WorkerSettings(threads=THREADS, batch=64, poll_s=0.05))
    stop = threading.Event()
    started = time.monotonic()
    working = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    working.start()
    try:
        # the 19 others complete while the hung one still hangs, before its timeout
        for run_id in others:
            assert service.wait_until_ended(admin, run_id, 30), run_id
        others_done = time.monotonic() - started
        assert not gate.is_set()
        assert service.run(admin, hung).status == "running", "timed out before the others"
        status = status_after_running(app, hung)
        timed_out = time.monotonic() - started
        assert status == "incident"
        assert not gate.is_set() and not returned.is_set()  # abandoned, still hanging
        assert worker._threads.live == THREADS  # a new thread took the hung one's place
    finally:
        gate.set()
        assert returned.wait(10)
        stop.set()
        service.wake()
        working.join(10)
        worker.close()
    print(f"\nothers done after {others_done:.2f}s; hung one timed out after {timed_out:.2f}s")
    assert others_done < 2.0 <= timed_out < 6.0
    journal = service.journal(admin, hung)
    assert [f.type for f in journal] == ["RunStarted", "StepFailed"]  # the late result dropped
    failed = journal[-1]
    assert failed.body["timed_out"] is True and failed.body["error"] == "timed out after 2.0s"
    assert 2.0 <= failed.at - journal[0].at < 6.0
    assert service.run(admin, hung).status == "incident"
    for run_id in others:
        assert service.run(admin, run_id).outcome == "worked"


class Hang:
    """``test.hang``: the call with n = 0 blocks until ``gate`` is set; the others return."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.returned = threading.Event()

    def __call__(self, call: ActionCall) -> JsonValue:
        if call.input["n"] == 0:
            self.entered.set()
            self.gate.wait(60)
            self.returned.set()
            return {"late": True}
        return {"n": call.input["n"]}


def start(service: Andon, app: bootstrap.App, numbers: range) -> list[str]:
    requests = [StartRequest("hang-flow", {"n": n}) for n in numbers]
    return service.start_runs(app.actor(), requests)


def working(worker: Worker) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_an_untimed_hung_action_holds_up_neither_its_batch_nor_later_runs(
    app: bootstrap.App,
) -> None:
    hang = Hang()
    app.actions.register("test.hang", hang)
    publish(app.service, app.actor(), UNTIMED, "hang-flow.yaml")
    service, admin = app.service, app.actor()
    runs = start(service, app, range(21))  # one batch: the hung run and 20 others
    hung = runs[0]
    worker = app.worker(WorkerSettings(threads=THREADS, batch=64, poll_s=0.05))
    assert worker._action_timeout_s == 300.0  # the default: it will not time out here
    stop, thread = working(worker)
    try:
        assert hang.entered.wait(30)
        for run_id in runs[1:]:
            assert service.wait_until_ended(admin, run_id, 30), run_id
        assert service.run(admin, hung).status == "running" and not hang.returned.is_set()
        later = start(service, app, range(1, 21))  # started while the call hangs
        for run_id in later:
            assert service.wait_until_ended(admin, run_id, 30), run_id
        assert service.run(admin, hung).status == "running" and not hang.returned.is_set()
        hang.gate.set()  # the carried call ends: its outcome is delivered on its own
        assert service.wait_until_ended(admin, hung, 30)
    finally:
        hang.gate.set()
        stop.set()
        service.wake()
        thread.join(10)
        worker.close()
    assert service.run(admin, hung).outcome == "worked"
    for run_id in [*runs[1:], *later]:
        assert service.run(admin, run_id).outcome == "worked"


def test_an_untimed_hung_action_is_abandoned_at_the_default_timeout(
    short_default: bootstrap.App,
) -> None:
    app = short_default
    hang = Hang()
    app.actions.register("test.hang", hang)
    publish(app.service, app.actor(), UNTIMED, "hang-flow.yaml")
    service, admin = app.service, app.actor()
    runs = start(service, app, range(21))
    hung = runs[0]
    worker = app.worker(WorkerSettings(threads=THREADS, batch=64, poll_s=0.05))
    stop, thread = working(worker)
    started = time.monotonic()
    try:
        for run_id in runs[1:]:
            assert service.wait_until_ended(admin, run_id, 30), run_id
        assert status_after_running(app, hung) == "incident"
        timed_out = time.monotonic() - started
        assert not hang.returned.is_set()  # abandoned while it still hangs
        assert worker._threads.live == THREADS  # a new thread took the hung one's place
    finally:
        hang.gate.set()
        assert hang.returned.wait(10)
        stop.set()
        service.wake()
        thread.join(10)
        worker.close()
    assert 1.0 <= timed_out < 5.0
    journal = service.journal(admin, hung)
    assert [f.type for f in journal] == ["RunStarted", "StepFailed"]  # the late result dropped
    failed = journal[-1].body
    assert failed["timed_out"] is True
    assert failed["error"] == "timed out after 1.0s (the default action timeout)"
    for run_id in runs[1:]:
        assert service.run(admin, run_id).outcome == "worked"
