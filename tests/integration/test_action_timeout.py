"""A step's timeout is enforced while its action runs: one action hanging in a worker's
batch is abandoned at its timeout, recorded as timed out, and holds up none of the other
runs in the batch; the worker keeps its capacity and drops the hung call's late result."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.json import JsonValue
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from backends import settings_for
from contracts_support import publish

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
THREADS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bootstrap.App]:
    with settings_for(request.param, tmp_path) as settings:
        built = bootstrap.build(settings)
        publish(built.service, built.actor(), FLOW, "gate-flow.yaml")
        yield built
        built.close()


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
        while (status := service.run(admin, hung).status) == "running":
            seen = service.generation
            if service.run(admin, hung).status == "running":
                service.wait_for_work(1.0, since=seen)
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
