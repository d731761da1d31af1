"""Two people decide the same "any"-quorum task at the same instant, over HTTP against a
real server: exactly one decision is recorded and answered 200, the other gets 409, and
the 200's outcome is the one the journal and the run hold. A decision on a task already
decided is a 409 too, never a quiet 200."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from api_support import serve, token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import BACKENDS, settings_for

RACES = 500
RACE = """
id: race
version: 1
roles: [QE]
steps:
  - {id: decide, kind: approval, roles: [QE], quorum: any,
     outcomes: {approve: pass, reject: fail}}
  - {id: pass, kind: end, outcome: approved}
  - {id: fail, kind: end, outcome: rejected}
"""
OUTCOMES = {"approve": "approved", "reject": "rejected"}


def prepare(app: bootstrap.App, runs: int) -> list[tuple[str, str]]:
    """Two QE users and ``runs`` fresh runs, each with one open task: (run, task) pairs."""
    admin = app.actor()
    publish(app.service, admin, RACE)
    for user in ("anna", "ben"):
        app.directory.create_user(admin, user, user.title())
        app.directory.grant(admin, user, "QE")
    started = app.service.start_runs(admin, [StartRequest("race", {})] * runs)
    tasks = {t.run_id: t.task_id for t in app.service.tasks(admin, "open", None, runs + 10)}
    return [(run_id, tasks[run_id]) for run_id in started]


def recorded(app: bootstrap.App, run_id: str) -> tuple[list[str], str | None]:
    """The decisions the run's journal holds, and the run's outcome."""
    with app.service.store.reader() as reader:
        scoped = reader.scoped("default")
        journal = scoped.journal(run_id)
        run = scoped.run(run_id)
    assert run is not None
    decided = [str(e.body["outcome"]) for e in journal if e.type == "TaskCompleted"]
    return decided, run.outcome


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_of_two_simultaneous_decisions_one_wins_and_the_other_hears_409(
    backend: str, tmp_path: Path
) -> None:
    with settings_for(backend, tmp_path) as settings:
        app = bootstrap.build(settings)
        try:
            races = prepare(app, RACES)
            deciders = {"approve": token_for(app, "anna"), "reject": token_for(app, "ben")}
            answers: dict[str, list[tuple[int, str]]] = {"approve": [], "reject": []}
            barrier = threading.Barrier(2, timeout=60)
            with serve(create_api(app, writes_per_s=100_000, burst=100_000)) as base:

                def decide(outcome: str) -> None:
                    with httpx.Client(base_url=base, headers=deciders[outcome]) as client:
                        for _, task_id in races:
                            barrier.wait()
                            got = client.post(
                                f"/v1/tasks/{task_id}/decision", json={"outcome": outcome}
                            )
                            answers[outcome].append((got.status_code, got.text))

                threads = [threading.Thread(target=decide, args=(o,)) for o in answers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=600)
            assert all(len(a) == RACES for a in answers.values()), "a decider stopped early"
            for i, (run_id, task_id) in enumerate(races):
                statuses = {o: answers[o][i] for o in answers}
                winners = [o for o, (code, _) in statuses.items() if code == 200]
                losers = [o for o, (code, _) in statuses.items() if code == 409]
                assert len(winners) == 1 and len(losers) == 1, (task_id, statuses)
                assert task_id in statuses[losers[0]][1]
                decided, outcome = recorded(app, run_id)
                assert decided == winners, (task_id, decided, statuses)
                assert outcome == OUTCOMES[winners[0]], (task_id, outcome, statuses)
        finally:
            app.close()


def test_a_decision_on_a_decided_task_is_409(app: bootstrap.App, http: TestClient) -> None:
    [(run_id, task_id)] = prepare(app, 1)
    first = http.post(
        f"/v1/tasks/{task_id}/decision", json={"outcome": "reject"}, headers=token_for(app, "ben")
    )
    assert first.status_code == 200, first.text
    again = http.post(
        f"/v1/tasks/{task_id}/decision", json={"outcome": "approve"}, headers=token_for(app, "anna")
    )
    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("conflict") and task_id in again.json()["detail"]
    assert recorded(app, run_id) == (["reject"], "rejected")
