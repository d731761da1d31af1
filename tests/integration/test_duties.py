"""Segregation of duties, enforced by the engine: for each rule the forbidden actor is
refused with a clear message and the refusal is journaled; the allowed actor succeeds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from andon import bootstrap
from andon.errors import GovernanceError
from andon.governance import authz
from andon.governance.identity import Actor, PrincipalKind
from andon.runtime.clock import ManualClock
from andon.runtime.service import Credentials, StartRequest, TaskDecision
from andon.store.base import JournalRow
from andon.testing import person, publish, tenant_reader

RELEASE = """
id: release
version: 1
roles: [PS, BU, AP, QC, QA, QAM]
duties:
  conflicting_roles: [[BU, AP]]
  separate_steps: [[review, release]]
input: {type: object, required: [batch], properties: {batch: {type: string}}}
steps:
  - {id: review, kind: approval, roles: [PS, BU]}
  - {id: check, kind: approval, roles: [QC, AP], quorum: 2}
  - id: release
    kind: approval
    roles: [QA]
    signature: {meaning: release, reason_required: true}
  - {id: done, kind: end, outcome: released}
"""
PASSWORD = "correct horse battery"


@pytest.fixture
def started(app: bootstrap.App) -> str:
    publish(app.service, app.actor(), RELEASE)
    initiator = person(app, "u-init", "PS", "QA")
    return app.service.start_run(initiator, StartRequest("release", {"batch": "B-1"}))


def task_of(app: bootstrap.App, run_id: str, step: str) -> str:
    return f"{run_id}:{step}:1"


def journal(app: bootstrap.App, run_id: str) -> list[JournalRow]:
    with tenant_reader(app) as reader:
        return reader.journal(run_id)


def refused(
    app: bootstrap.App, run_id: str, actor: Actor, decision: TaskDecision, rule: str
) -> None:
    before = len(journal(app, run_id))
    with pytest.raises(GovernanceError, match=rf"\[{rule}\]"):
        app.service.decide_task(actor, decision)
    rows = journal(app, run_id)
    assert len(rows) == before + 1, "the refusal is one new journal row"
    last = rows[-1]
    assert last.type == "PolicyViolated"
    assert (last.body["actor"], last.body["rule"], last.body["attempted"]) == (
        actor.user_id,
        rule,
        "decide",
    )
    assert last.body["task_id"] == decision.task_id


def sign(reason: str = "batch record reviewed, QC results in specification") -> Credentials:
    return Credentials(PASSWORD, reason)


def test_the_initiator_cannot_approve_but_someone_else_can(
    app: bootstrap.App, started: str
) -> None:
    initiator = app.actor("u-init")
    review = task_of(app, started, "review")
    refused(app, started, initiator, TaskDecision(review, role="PS"), "initiator-cannot-approve")
    app.service.decide_task(person(app, "u-ps", "PS"), TaskDecision(review))
    assert journal(app, started)[-1].type == "TaskCompleted"


def test_a_quorum_needs_distinct_people(app: bootstrap.App, started: str) -> None:
    app.service.decide_task(
        person(app, "u-ps", "PS"), TaskDecision(task_of(app, started, "review"))
    )
    check = task_of(app, started, "check")
    first = person(app, "u-qc1", "QC")
    app.service.decide_task(first, TaskDecision(check))
    refused(app, started, first, TaskDecision(check), "distinct-approvers")
    app.service.decide_task(person(app, "u-qc2", "QC"), TaskDecision(check))
    with tenant_reader(app) as reader:
        task = reader.task(check)
    assert task is not None and (task.status, task.outcome) == ("closed", "approve")


def test_one_person_may_not_act_in_two_conflicting_roles_on_one_run(
    app: bootstrap.App, started: str
) -> None:
    both = person(app, "u-bu-ap", "BU", "AP")
    app.service.decide_task(both, TaskDecision(task_of(app, started, "review"), role="BU"))
    check = task_of(app, started, "check")
    refused(app, started, both, TaskDecision(check, role="AP"), "conflicting-roles")
    app.service.decide_task(person(app, "u-ap", "AP"), TaskDecision(check))


def test_the_actor_of_one_step_may_not_act_on_a_separated_step(
    app: bootstrap.App, started: str
) -> None:
    reviewer = person(app, "u-ps-qa", "PS", "QA", password=PASSWORD)
    app.service.decide_task(reviewer, TaskDecision(task_of(app, started, "review")))
    check = task_of(app, started, "check")
    app.service.decide_task(person(app, "u-qc1", "QC"), TaskDecision(check))
    app.service.decide_task(person(app, "u-qc2", "QC"), TaskDecision(check))
    release = task_of(app, started, "release")
    refused(app, started, reviewer, TaskDecision(release, credentials=sign()), "separate-steps")
    releaser = person(app, "u-qa", "QA", password=PASSWORD)
    app.service.decide_task(releaser, TaskDecision(release, credentials=sign()))
    with tenant_reader(app) as reader:
        run = reader.run(started)
    assert run is not None and (run.status, run.outcome) == ("completed", "released")


def _through_release_gate(app: bootstrap.App, run_id: str) -> str:
    app.service.decide_task(person(app, "u-ps", "PS"), TaskDecision(task_of(app, run_id, "review")))
    check = task_of(app, run_id, "check")
    app.service.decide_task(person(app, "u-qc1", "QC"), TaskDecision(check))
    app.service.decide_task(person(app, "u-qc2", "QC"), TaskDecision(check))
    return task_of(app, run_id, "release")


def test_no_approving_through_the_initiators_delegation(
    app: bootstrap.App, started: str, clock: ManualClock
) -> None:
    release = _through_release_gate(app, started)
    admin = app.actor()
    app.directory.set_authority(admin, "QA", 10)
    app.directory.set_authority(admin, "QAM", 20)
    person(app, "u-qam", "QAM", password=PASSWORD)
    until = (clock.now() + timedelta(days=7)).timestamp()
    app.directory.delegate(app.actor("u-init"), "u-qam", "QA", until, reason="holiday")
    manager = app.actor("u-qam")  # resolved now, with the delegation
    refused(
        app, started, manager, TaskDecision(release, credentials=sign()),
        "no-approval-through-own-delegation",
    )  # fmt: skip


def test_a_delegation_lets_a_higher_authority_act_and_says_for_whom(
    app: bootstrap.App, started: str, clock: ManualClock
) -> None:
    release = _through_release_gate(app, started)
    admin = app.actor()
    app.directory.set_authority(admin, "QA", 10)
    app.directory.set_authority(admin, "QAM", 20)
    person(app, "u-qam", "QAM", password=PASSWORD)
    person(app, "u-qa2", "QA")
    until = (clock.now() + timedelta(days=7)).timestamp()
    app.directory.delegate(app.actor("u-qa2"), "u-qam", "QA", until, reason="holiday")
    app.service.decide_task(app.actor("u-qam"), TaskDecision(release, credentials=sign()))
    decided = journal(app, started)[-1]
    assert decided.type == "TaskCompleted"
    assert (decided.body["actor"], decided.body["on_behalf_of"]) == ("u-qam", "u-qa2")
    # expired: the next day after the end, the delegation gives nothing
    clock.advance(timedelta(days=8))
    assert app.actor("u-qam").delegations == ()


def test_delegation_goes_only_to_equal_or_higher_authority(
    app: bootstrap.App, started: str, clock: ManualClock
) -> None:
    admin = app.actor()
    app.directory.set_authority(admin, "QA", 10)
    app.directory.set_authority(admin, "QC", 5)
    person(app, "u-qa2", "QA")
    person(app, "u-qc1", "QC")
    until = (clock.now() + timedelta(days=1)).timestamp()
    with pytest.raises(GovernanceError, match="equal or higher authority"):
        app.directory.delegate(app.actor("u-qa2"), "u-qc1", "QA", until)
    with pytest.raises(GovernanceError, match="cannot delegate 'QC'"):
        app.directory.delegate(app.actor("u-qa2"), "u-qc1", "QC", until)


def test_service_accounts_and_administrators_cannot_sign(app: bootstrap.App, started: str) -> None:
    release = _through_release_gate(app, started)
    robot = person(app, "svc-mes", "QA", kind=PrincipalKind.SERVICE, password=PASSWORD)
    refused(
        app, started, robot, TaskDecision(release, credentials=sign()),
        "service-or-admin-cannot-sign",
    )  # fmt: skip
    boss = person(app, "u-admin-qa", "QA", authz.TENANT_ADMIN, password=PASSWORD)
    refused(
        app, started, boss, TaskDecision(release, credentials=sign()),
        "service-or-admin-cannot-sign",
    )  # fmt: skip
    app.service.decide_task(
        person(app, "u-qa", "QA", password=PASSWORD), TaskDecision(release, credentials=sign())
    )


def test_a_service_account_may_decide_an_unsigned_step(app: bootstrap.App, started: str) -> None:
    robot = person(app, "svc-erp", "PS", kind=PrincipalKind.SERVICE)
    app.service.decide_task(robot, TaskDecision(task_of(app, started, "review")))
    assert journal(app, started)[-1].type == "TaskCompleted"


def test_claiming_is_judged_too_and_refusals_are_journaled(
    app: bootstrap.App, started: str
) -> None:
    review = task_of(app, started, "review")
    before = len(journal(app, started))
    with pytest.raises(GovernanceError, match=r"\[initiator-cannot-approve\]"):
        app.service.claim_task(app.actor("u-init"), review)
    last = journal(app, started)[-1]
    assert len(journal(app, started)) == before + 1
    assert (last.type, last.body["attempted"]) == ("PolicyViolated", "claim")
    claimed = app.service.claim_task(person(app, "u-ps", "PS"), review)
    assert claimed.claimed_by == "u-ps"


def test_someone_without_a_candidate_role_is_refused(app: bootstrap.App, started: str) -> None:
    with pytest.raises(GovernanceError, match="holds none of PS, BU"):
        app.service.decide_task(
            person(app, "u-qc1", "QC"), TaskDecision(task_of(app, started, "review"))
        )
