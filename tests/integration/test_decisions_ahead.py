"""Step conditions are evaluated before the write transaction (ADR 0028): a costly one
never holds up other writers, and a run changed in between is folded again, correctly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.core.expressions import Expression, compile_expression
from andon.core.json import JsonValue
from andon.runtime import preparation
from andon.runtime.facts import Delivery, StartRequest
from andon.runtime.preparation import Prepared, PreparedStart
from andon.runtime.service import TaskDecision
from andon.runtime.templates import TemplateCache
from andon.store.base import RunRow
from andon.testing import drain, person, publish, tenant_reader

# One comprehension over 20,000 integers: about 25 ms on a developer machine, within the
# CEL budget (asserted below), so long enough for every other writer to queue behind it.
COSTLY = "input.items.all(a, a >= 0)"
ITEMS: list[JsonValue] = list(range(20_000))
FLOW = f"""\
id: costly
version: 1
roles: [QE]
input:
  type: object
  properties:
    items: {{type: array, items: {{type: integer}}}}
steps:
  - {{id: weigh, kind: action, action: scale.weigh, when: "{COSTLY}"}}
  - {{id: review, kind: approval, roles: [QE], when: "{COSTLY}"}}
  - {{id: answer, kind: wait, event: lab.result, key: "'k'", when: "{COSTLY}"}}
  - {{id: record, kind: action, action: scale.weigh, when: "{COSTLY}"}}
  - {{id: done, kind: end, outcome: recorded}}
"""
OTHER = """\
id: other
version: 1
steps:
  - {id: hold, kind: wait, event: lab.result, key: "'never'"}
  - {id: done, kind: end}
"""


class Watch:
    """Records, for each evaluation of ``COSTLY``, whether this thread held a write
    transaction, and whether another writer (starting a run of ``other``) got through
    while it was evaluated."""

    def __init__(self, app: bootstrap.App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.app = app
        self.admin = app.actor()  # read now: reading it takes a write transaction
        self.held = threading.local()
        self.inside: list[bool] = []
        self.others: list[bool] = []
        store = app.service.store
        transaction = store.transaction
        evaluate = Expression.evaluate

        @contextmanager
        def watched() -> Iterator[object]:
            with transaction() as tx:
                self.held.depth = getattr(self.held, "depth", 0) + 1
                try:
                    yield tx
                finally:
                    self.held.depth -= 1

        def counted(expression: Expression, context: dict[str, JsonValue]) -> JsonValue:
            if expression.source == COSTLY:
                self.inside.append(getattr(self.held, "depth", 0) > 0)
                self.others.append(self._other_writer_gets_through())
            return evaluate(expression, context)

        monkeypatch.setattr(store, "transaction", watched)
        monkeypatch.setattr(Expression, "evaluate", counted)

    def _other_writer_gets_through(self) -> bool:
        other = threading.Thread(
            target=lambda: self.app.service.start_run(self.admin, StartRequest("other", {})),
            daemon=True,
        )
        other.start()
        other.join(10)  # behind a held SQLite write lock it waits out the evaluation
        return not other.is_alive()


@pytest.fixture
def weighed(app: bootstrap.App) -> list[str]:
    calls: list[str] = []

    def weigh(call: ActionCall) -> JsonValue:
        calls.append(call.step)
        return {"kg": 1}

    app.actions.register("scale.weigh", weigh)
    publish(app.service, app.actor(), FLOW, "costly.yaml")
    publish(app.service, app.actor(), OTHER, "other.yaml")
    return calls


def status(app: bootstrap.App, run_id: str) -> RunRow:
    with tenant_reader(app) as reader:
        row = reader.run(run_id)
    assert row is not None
    return row


def test_costly_conditions_are_evaluated_outside_the_write_transaction(
    app: bootstrap.App, weighed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert compile_expression(COSTLY).over_budget({"input": {"items": ITEMS}}) is None
    qe = person(app, "u-qe", "QE")
    watch = Watch(app, monkeypatch)
    run_id = app.service.start_run(app.actor(), StartRequest("costly", {"items": ITEMS}))
    assert watch.inside == [False] * 1  # weigh's condition, on start
    drain(app)
    assert weighed == ["weigh"] and watch.inside == [False] * 2  # review's, on the outcome
    with tenant_reader(app) as reader:
        [task] = [t for t in reader.tasks("open", None, 10) if t.run_id == run_id]
    app.service.claim_task(qe, task.task_id)
    app.service.decide_task(qe, TaskDecision(task.task_id))
    assert watch.inside == [False] * 3  # answer's, on the decision
    assert app.service.send_event(app.actor(), "lab.result", "k", {}).reached == 1
    assert watch.inside == [False] * 4  # record's, on the event
    drain(app)
    assert weighed == ["weigh", "record"]
    assert (status(app, run_id).status, status(app, run_id).outcome) == ("completed", "recorded")
    assert watch.others == [True] * 4


def test_a_decision_on_a_run_changed_meanwhile_is_folded_again(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two people approve one quorum-2 task; the second approval commits between the
    first one's preparation and its transaction. Both count: no update is lost."""
    app.actions.register("scale.weigh", lambda call: {"kg": 1})
    publish(
        app.service, app.actor(), FLOW.replace("roles: [QE], when", "roles: [QE], quorum: 2, when")
    )
    publish(app.service, app.actor(), OTHER)
    anna, ben = person(app, "anna", "QE"), person(app, "ben", "QE")
    run_id = app.service.start_run(app.actor(), StartRequest("costly", {"items": [1, 2]}))
    drain(app)
    with tenant_reader(app) as reader:
        [task] = [t for t in reader.tasks("open", None, 10) if t.run_id == run_id]
    real = preparation.fold
    folded: list[Prepared | None] = []

    def fold_then_interfere(
        templates: TemplateCache, tenant: str, row: RunRow | None, delivery: Delivery, now: datetime
    ) -> Prepared | None:
        prepared = real(templates, tenant, row, delivery, now)
        folded.append(prepared)
        if len(folded) == 1:  # anna's, read before ben's commit
            app.service.decide_task(ben, TaskDecision(task.task_id))
        return prepared

    monkeypatch.setattr(preparation, "fold", fold_then_interfere)
    app.service.decide_task(anna, TaskDecision(task.task_id))
    assert folded[0] is not None and folded[0].decision.commands == ()  # 1 of 2: waits
    with tenant_reader(app) as reader:
        journal = reader.journal(run_id)
    decided = [str(e.body["actor"]) for e in journal if e.type == "TaskCompleted"]
    assert decided == ["ben", "anna"]
    assert status(app, run_id).status == "running"  # on to the wait for lab.result
    with tenant_reader(app) as reader:
        assert [t.status for t in reader.tasks(None, None, 10) if t.run_id == run_id] == ["closed"]
    app.service.send_event(app.actor(), "lab.result", "k", {})
    drain(app)
    assert status(app, run_id).outcome == "recorded"


def test_a_start_prepared_on_a_version_since_replaced_starts_on_the_new_one(
    app: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run starts on the version in force when its transaction runs, as before."""
    publish(app.service, app.actor(), OTHER)
    real = preparation.starts
    prepared: list[PreparedStart | None] = []

    def starts_then_publish(
        templates: TemplateCache,
        tenant: str,
        requests: list[tuple[StartRequest, str, str]],
        now: datetime,
    ) -> list[PreparedStart | None]:
        prepared.extend(real(templates, tenant, requests, now))
        publish(app.service, app.actor(), OTHER.replace("version: 1", "version: 2"))
        return prepared

    monkeypatch.setattr(preparation, "starts", starts_then_publish)
    run_id = app.service.start_run(app.actor(), StartRequest("other", {}))
    [ahead] = prepared
    assert ahead is not None and ahead.started.template_version == 1
    assert status(app, run_id).template_version == 2
    with tenant_reader(app) as reader:
        [started] = [e for e in reader.journal(run_id) if e.type == "RunStarted"]
    assert started.body["template_version"] == 2
