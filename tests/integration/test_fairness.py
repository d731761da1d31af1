"""Tenant fairness: while one tenant floods 10,000 runs, another tenant's single run is
served within a bounded time (claims share each batch among tenants with due work).

Runs are started by one process (an API) and worked by another, so every action goes
through the outbox claim, where fairness is decided."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.runtime.service import StartRequest
from andon.runtime.worker import WorkerSettings
from andon.testing import publish

FLOW = """
id: ping
version: 1
steps:
  - {id: call, kind: action, action: plant.ping}
  - {id: done, kind: end, outcome: ok}
"""
FLOOD = 10_000
BOUND_S = 5.0


@pytest.mark.slow
def test_one_tenants_flood_does_not_starve_another(tmp_path: Path) -> None:
    settings = Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"))
    app = bootstrap.build(settings)  # the "API": starts runs, has no worker attached
    workers = bootstrap.build(settings)  # the "worker" process
    try:
        # Every process of a deployment loads the same actions; the API's are checked.
        for process in (app, workers):
            process.actions.register("plant.ping", lambda call: {"pong": True})
        app.directory.create_tenant("big", "Big manufacturer")
        app.directory.create_tenant("small", "Small manufacturer")
        big, small = app.actor("admin@big", "big"), app.actor("admin@small", "small")
        for admin in (big, small):
            app.directory.grant(admin, admin.user_id, "process-owner")
        big, small = app.actor("admin@big", "big"), app.actor("admin@small", "small")
        for admin in (big, small):
            publish(app.service, admin, FLOW)
        stop = threading.Event()
        worker = workers.worker(WorkerSettings(threads=1, batch=64, poll_s=0.05))
        thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
        try:
            for _ in range(FLOOD // 500):
                app.service.start_runs(big, [StartRequest("ping", {})] * 500)
            # The worker starts once the flood is queued: on a fast machine it would
            # otherwise keep up with the starts and there would be no flood to be fair in.
            thread.start()
            started = time.monotonic()
            run_id = app.service.start_run(small, StartRequest("ping", {}))
            assert app.service.wait_until_ended(small, run_id, 60.0)
            waited = time.monotonic() - started
            with app.service.store.reader() as reader:
                backlog = reader.scoped("big").count_runs_by_status().get("running", 0)
            print(f"\nsmall tenant's run ended after {waited:.3f} s with {backlog} runs of "
                  f"the big tenant still waiting (bound {BOUND_S} s)")  # fmt: skip
            assert waited < BOUND_S
            assert backlog > 1000, "the flood should still be running: the test proves nothing"
        finally:
            stop.set()
            workers.service.wake()
            if thread.is_alive():
                thread.join(timeout=30)
            worker.close()
    finally:
        workers.close()
        app.close()
