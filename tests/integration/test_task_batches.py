"""Several people's decisions in one transaction: all apply or none does.

On PostgreSQL a batch reads its tasks and locks their runs up front (one statement each);
these tests show the batch keeps the single-decision guarantees: a task decided twice in
one batch, an unknown task or a refusal under segregation of duties rolls back the lot.
"""

from __future__ import annotations

import pytest

from andon import bootstrap
from andon.errors import ConflictError, GovernanceError, NotFoundError
from andon.governance.identity import Actor
from andon.runtime.service import StartRequest, TaskDecision
from andon.testing import person, publish, tenant_reader

SIGN_OFF = """
id: sign-off
version: 1
roles: [QE]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: approve, kind: approval, roles: [QE]}
  - {id: done, kind: end, outcome: closed}
"""


def start(app: bootstrap.App, who: Actor, count: int) -> list[str]:
    return [
        app.service.start_run(who, StartRequest("sign-off", {"lot": f"L-{i}"}))
        for i in range(count)
    ]


def task_of(run_id: str) -> str:
    return f"{run_id}:approve:1"


def statuses(app: bootstrap.App, run_ids: list[str]) -> list[str]:
    with tenant_reader(app) as reader:
        return [reader.run(run_id).status for run_id in run_ids]  # type: ignore[union-attr]


def journal_types(app: bootstrap.App, run_id: str) -> list[str]:
    with tenant_reader(app) as reader:
        return [row.type for row in reader.journal(run_id)]


@pytest.fixture
def people(app: bootstrap.App) -> tuple[Actor, Actor, Actor]:
    publish(app.service, app.actor(), SIGN_OFF)
    return person(app, "u-init", "QE"), person(app, "u-ann", "QE"), person(app, "u-bob", "QE")


def test_a_batch_of_decisions_by_several_people_applies_each(
    app: bootstrap.App, people: tuple[Actor, Actor, Actor]
) -> None:
    initiator, ann, bob = people
    runs = start(app, initiator, 4)
    batch = [(ann if i % 2 else bob, TaskDecision(task_of(r))) for i, r in enumerate(runs)]
    decisions = app.service.decide_tasks(batch)
    assert len(decisions) == 4
    assert statuses(app, runs) == ["completed"] * 4
    for i, run_id in enumerate(runs):
        with tenant_reader(app) as reader:
            done = [row for row in reader.journal(run_id) if row.type == "TaskCompleted"]
        assert [row.body["actor"] for row in done] == ["u-ann" if i % 2 else "u-bob"]


def test_the_same_task_twice_in_a_batch_rolls_back_the_batch(
    app: bootstrap.App, people: tuple[Actor, Actor, Actor]
) -> None:
    initiator, ann, bob = people
    runs = start(app, initiator, 2)
    first, second = task_of(runs[0]), task_of(runs[1])
    batch = [(ann, TaskDecision(first)), (ann, TaskDecision(second)), (bob, TaskDecision(first))]
    with pytest.raises(ConflictError, match=rf"task {first} is closed"):
        app.service.decide_tasks(batch)
    assert statuses(app, runs) == ["running", "running"]
    assert [t.status for t in (app.service.task(ann, first), app.service.task(ann, second))] == [
        "open",
        "open",
    ]
    assert "TaskCompleted" not in journal_types(app, runs[0])


def test_an_unknown_task_in_a_batch_rolls_back_the_batch(
    app: bootstrap.App, people: tuple[Actor, Actor, Actor]
) -> None:
    initiator, ann, _ = people
    runs = start(app, initiator, 1)
    batch = [(ann, TaskDecision(task_of(runs[0]))), (ann, TaskDecision("no-such-task"))]
    with pytest.raises(NotFoundError, match="no task 'no-such-task'"):
        app.service.decide_tasks(batch)
    assert statuses(app, runs) == ["running"]


def test_a_refusal_in_a_batch_rolls_back_the_others_and_is_journaled(
    app: bootstrap.App, people: tuple[Actor, Actor, Actor]
) -> None:
    initiator, ann, _ = people
    by_ann = start(app, ann, 1)  # ann may not approve her own run
    by_initiator = start(app, initiator, 1)
    batch = [(ann, TaskDecision(task_of(by_initiator[0]))), (ann, TaskDecision(task_of(by_ann[0])))]
    with pytest.raises(GovernanceError, match=r"\[initiator-cannot-approve\]"):
        app.service.decide_tasks(batch)
    assert statuses(app, by_initiator + by_ann) == ["running", "running"]
    assert "TaskCompleted" not in journal_types(app, by_initiator[0])
    assert journal_types(app, by_ann[0])[-1] == "PolicyViolated"
