"""The template lifecycle end to end, on both backends (issue 16's "done when"): v1 in
production everywhere; v2 published to dev; its governed promotion refused to the author,
approved and signed by the process owner and QA; v2 in force at the pilot plant only;
the dry run of 200 recorded events reports the paths that differ; 100 waiting runs
migrated v1 -> v2 with a mapping and one refused; the pilot plant and an overlay rolled
back; the audit chain verifies (through ``andon audit verify`` too)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.cli import main
from andon.config import Settings, StoreSettings
from andon.errors import ConflictError, GovernanceError, InputError, StoreError
from andon.governance import authz
from andon.governance.identity import Actor
from andon.runtime.clock import ManualClock
from andon.runtime.promotions import PROMOTION_TEMPLATE
from andon.runtime.run_migration import Outcome, Plan, RunMigrations
from andon.runtime.service import Credentials, StartRequest, TaskDecision
from andon.testing import T0, accept_any, drain, person, publish, tenant_reader
from backends import rows, settings_for

PASSWORD = "correct horse battery"

# v1 holds a lot above the plant's limit for the material review board, sends a negative
# (invalid) result back for a recheck and has QE review the rest. v2 also sends a result
# equal to the limit to the board (renamed mrb_board) and drops the recheck.
HEAD = """
id: lab-hold
version: {version}
roles: [QE, MRB]
parameters:
  limit: {{type: number, default: 10}}
input: {{type: object, required: [lot, value], properties: {{lot: {{type: string}}, value: {{type: number}}}}}}
triggers: [{{event: lab.result_recorded, key: input.lot}}]
steps:
  - id: classify
    kind: decide
    hit: first
    default: {{severity: low}}
    rules:
      - {{id: clear, when: "input.value == 0", then: {{severity: none}}, next: released}}
"""
V1 = (
    HEAD.format(version=1)
    + """\
      - {id: invalid, when: "input.value < 0", then: {severity: invalid}, next: recheck}
      - {id: high, when: "input.value > params.limit", then: {severity: high}, next: mrb}
  - {id: review, kind: approval, roles: [QE], next: released}
  - {id: mrb, kind: approval, roles: [MRB], next: released}
  - {id: recheck, kind: wait, event: lab.result_rechecked, key: input.lot, next: released}
  - {id: released, kind: end, outcome: released}
"""
)
V2 = (
    HEAD.format(version=2)
    + """\
      - {id: high, when: "input.value >= params.limit", then: {severity: high}, next: mrb_board}
  - {id: review, kind: approval, roles: [QE], next: released}
  - {id: mrb_board, kind: approval, roles: [MRB], next: released}
  - {id: released, kind: end, outcome: released}
"""
)
LIMIT = 10
PLANTS = ("P1", "P2", "P3")


def overlay(limit: int) -> str:
    return f"template: lab-hold\nplant: P2\nparameters: {{limit: {limit}}}\n"


RESULT = {
    "type": "object", "required": ["lot", "value"],
    "properties": {"lot": {"type": "string"}, "value": {"type": "number"}},
}  # fmt: skip


def contracts(app: bootstrap.App) -> None:
    app.service.register_contract(app.actor(), "lab.result_recorded", RESULT)
    accept_any(app.service, app.actor(), "lab.result_rechecked")


def value_of(i: int) -> int:
    """The result of event ``i``, all at the pilot plant: 99 clear results (0) end at
    once; 80 low, 10 at the limit and 10 above wait for a review; one invalid for a recheck."""
    if i >= 101:
        return 0
    if i == 100:
        return -1
    return {0: 15, 5: LIMIT}.get(i % 10, 1 + i % 9)


def differs(i: int) -> bool:
    """Where v2 goes another way than v1 (board renamed, ``>=`` the limit, no recheck)."""
    return value_of(i) < 0 or value_of(i) >= LIMIT


@dataclass
class People:
    author: Actor
    requester: Actor
    owner: Actor
    qa: Actor


@pytest.fixture
def world(backend: str, tmp_path: Path) -> Iterator[tuple[bootstrap.App, dict[str, str]]]:
    with settings_for(backend, tmp_path) as settings:
        app = bootstrap.build(settings, clock=ManualClock(T0))
        env = {
            "ANDON_DATABASE_URL": settings.store.url,
            "ANDON_SIGNING_KEY": str(settings.signing_key),
            "ANDON_SECRETS_KEY": str(settings.secrets_key),
        }
        try:
            yield app, env
        finally:
            app.close()


def people(app: bootstrap.App) -> People:
    return People(
        person(app, "alice", authz.PROCESS_OWNER, "OWNER", password=PASSWORD),
        person(app, "rita", authz.PROCESS_OWNER, "OWNER", password=PASSWORD),
        person(app, "otto", "OWNER", "QA", password=PASSWORD),
        person(app, "quinn", "QA", password=PASSWORD),
    )


def signed(task_id: str, reason: str = "diff and dry run reviewed") -> TaskDecision:
    return TaskDecision(task_id, credentials=Credentials(PASSWORD, reason))


def approve(app: bootstrap.App, who: People, run_id: str) -> None:
    app.service.decide_task(who.owner, signed(f"{run_id}:owner_approval:1"))
    app.service.decide_task(who.qa, signed(f"{run_id}:qa_approval:1"))
    drain(app)


def version_started(app: bootstrap.App, plant: str, lot: str, value: int = 1) -> int:
    run_id = app.service.start_run(
        app.actor(), StartRequest("lab-hold", {"lot": lot, "value": value}, plant)
    )
    return app.service.run(app.actor(), run_id).template_version


def test_a_version_goes_to_a_pilot_plant_through_a_signed_promotion_and_back(
    world: tuple[bootstrap.App, dict[str, str]],
) -> None:
    app, env = world
    clock = app.service.clock
    assert isinstance(clock, ManualClock)
    admin = app.actor()
    for plant in PLANTS:
        app.directory.create_site(admin, plant, f"Plant {plant}")
    who = people(app)
    contracts(app)
    publish(app.service, who.author, V1)
    first = app.service.publish_overlay(admin, overlay(20))

    # v1 in production everywhere, through its own governed promotion.
    app.lifecycle.put_in_force(who.requester, "lab-hold", 1, "test")
    with pytest.raises(ConflictError, match="stage 'production' is governed"):
        app.lifecycle.put_in_force(who.requester, "lab-hold", 1, "production")
    v1_run = app.promotions.request(who.requester, "lab-hold", 1, "production", reason="go live")
    approve(app, who, v1_run)
    assert app.service.run(admin, v1_run).outcome == "promoted"
    assert {version_started(app, p, f"first-{p}") for p in ("P2", "P3")} == {1}

    # 200 recorded events at the pilot plant: each starts a v1 run, 101 of them wait.
    for i in range(200):
        clock.set(T0 + timedelta(minutes=i + 1))
        app.service.send_event(
            admin, "lab.result_recorded", f"L{i}", {"lot": f"L{i}", "value": value_of(i)},
            event_id=f"e{i}", plant="P1",
        )  # fmt: skip

    # v2 published: in force at dev only; test for the pilot plant directly (ungoverned).
    publish(app.service, who.author, V2)
    dev = {(f.stage, f.plant): f.record.version for f in app.lifecycle.versions(
        admin, "lab-hold").in_force}  # fmt: skip
    assert dev == {("dev", ""): 2, ("test", ""): 1, ("production", ""): 1}
    app.lifecycle.put_in_force(who.requester, "lab-hold", 2, "test", ["P1"])
    run_id = app.promotions.request(
        who.requester, "lab-hold", 2, "production", ["P1"], reason="pilot at P1"
    )
    promotion = app.service.run(admin, run_id)
    assert (promotion.template_id, promotion.plant) == (PROMOTION_TEMPLATE, "P1")
    evidence = promotion.state["input"]
    assert isinstance(evidence, dict)
    assert (evidence["author"], evidence["requested_by"], evidence["in_force"]) == (
        "alice", "rita", 1,
    )  # fmt: skip
    diff = "\n".join(str(line) for line in evidence["diff"])  # type: ignore[union-attr]
    assert "mrb_board" in diff and "recheck" in diff
    dry = evidence["dry_run"]
    assert isinstance(dry, dict)
    expected = {f"e{i}" for i in range(200) if differs(i)}
    assert (dry["considered"], dry["taken"], dry["differing"]) == (200, 200, len(expected))
    shown = dry["differing_events"]
    assert isinstance(shown, list) and shown
    assert {str(line).split(" ")[0] for line in shown} <= expected
    assert "e5 (key L5, plant P1): path: after classify, v1 goes review, v2 goes mrb_board" in (
        "\n".join(str(line) for line in shown)
    )
    report = app.dry_runs.run(who.requester, "lab-hold", 2, last=200)
    assert {e.event.event_id for e in report.events if e.differs} == expected

    # The author and the requester may not approve; nothing changes until the run ends.
    owner_task = f"{run_id}:owner_approval:1"
    with pytest.raises(GovernanceError, match=r"alice is the run's author .*barred-by-run-input"):
        app.service.decide_task(who.author, signed(owner_task))
    with pytest.raises(GovernanceError, match="initiator-cannot-approve"):
        app.service.decide_task(who.requester, signed(owner_task))
    with pytest.raises(GovernanceError, match="re-enter your password"):
        app.service.decide_task(who.owner, TaskDecision(owner_task))
    app.service.decide_task(who.owner, signed(owner_task))
    with pytest.raises(GovernanceError, match="separate-steps"):
        app.service.decide_task(who.owner, signed(f"{run_id}:qa_approval:1"))
    app.service.decide_task(who.qa, signed(f"{run_id}:qa_approval:1"))
    in_force = {(f.stage, f.plant): f.record.version for f in app.lifecycle.versions(
        admin, "lab-hold").in_force}  # fmt: skip
    assert in_force[("production", "")] == 1 and ("production", "P1") not in in_force
    drain(app)  # the run's last step puts v2 in force
    assert app.service.run(admin, run_id).outcome == "promoted"

    # v2 at the pilot plant only: starts and trigger starts elsewhere still take v1.
    assert version_started(app, "P1", "new-1") == 2
    assert version_started(app, "P2", "new-2") == 1
    got = app.service.send_event(admin, "lab.result_recorded", "L-P3", {"lot": "L-P3", "value": 1},
                                 event_id="p3-new", plant="P3")  # fmt: skip
    assert [app.service.run(admin, r).template_version for r in got.started] == [1]
    promoted = [r for r in app.lifecycle.versions(admin, "lab-hold").history if r.via_run]
    assert [(r.plant, r.version, r.via_run, r.by) for r in promoted][-1] == (
        "P1", 2, run_id, "rita",
    )  # fmt: skip

    # 100 waiting runs of the pilot plant move to v2; the one waiting for a recheck cannot.
    results = RunMigrations(app.service).migrate(
        who.requester, Plan("lab-hold", 1, 2, {"mrb": "mrb_board"}, plant="P1")
    )
    migrated = [r for r in results if r.outcome is Outcome.MIGRATED]
    [refused] = [r for r in results if r.outcome is Outcome.REFUSED]
    assert len(migrated) == 100 and len(results) == 101
    assert "step 'recheck' is not in lab-hold@2" in refused.reason
    assert sum(r.moved == {"mrb": "mrb_board"} for r in migrated) == 10
    assert sum(app.service.run(admin, r.run_id).template_version == 2 for r in migrated) == 100

    # Roll the pilot plant back to v1, and P2's overlay back to its first revision.
    app.lifecycle.rollback(who.requester, "lab-hold", "P1", reason="pilot stopped")
    assert version_started(app, "P1", "after-rollback") == 1
    second = app.service.publish_overlay(admin, overlay(30))
    assert _overlay_started(app, "P2", "o-2") == second.digest
    app.service.publish_overlay(admin, overlay(20))
    assert _overlay_started(app, "P2", "o-3") == first.digest

    # The chain verifies, in the service and through the CLI; the bundle holds the signatures.
    assert app.auditor.verify("default").ok
    verified = CliRunner().invoke(main.app, ["audit", "verify"], env=env, catch_exceptions=False)
    assert verified.exit_code == 0, verified.output
    bundle = app.evidence.export(admin, run_id)
    signed_by = [
        (s["user_id"], s["meaning"], s["valid"])  # type: ignore[index]
        for s in bundle["signatures"]  # type: ignore[union-attr]
    ]
    assert signed_by == [
        ("otto", "approved-for-production", True), ("quinn", "approved-for-production", True),
    ]  # fmt: skip
    with tenant_reader(app) as reader:
        actions = [a.action for a in reader.admin_log()]
    assert actions.count("template.promoted") >= 3 and "template.rolled_back" in actions


def _overlay_started(app: bootstrap.App, plant: str, lot: str) -> str:
    run_id = app.service.start_run(
        app.actor(), StartRequest("lab-hold", {"lot": lot, "value": 1}, plant)
    )
    return app.service.run(app.actor(), run_id).overlay_digest


def test_a_promotion_rejected_or_tampered_with_puts_nothing_in_force(app: bootstrap.App) -> None:
    admin, who = app.actor(), at_test(app)

    rejected = app.promotions.request(who.requester, "lab-hold", 1, "production")
    app.service.decide_task(
        who.owner, TaskDecision(f"{rejected}:owner_approval:1", "reject",
                                credentials=Credentials(PASSWORD, "not yet"))
    )  # fmt: skip
    drain(app)
    assert app.service.run(admin, rejected).outcome == "rejected"
    assert not app.lifecycle.versions(admin, "lab-hold").managed

    # Nobody starts a promotion run by hand, with made-up evidence or otherwise.
    forged = StartRequest(PROMOTION_TEMPLATE, {
        "template_id": "lab-hold", "version": 1, "stage": "production", "plants": [],
        "author": "nobody", "requested_by": "rita",
    })  # fmt: skip
    with pytest.raises(GovernanceError, match="start by a promotion request"):
        app.service.start_run(who.requester, forged)
    assert not app.lifecycle.versions(admin, "lab-hold").managed

    # The rollout history is append-only in the database as well.
    before = rows(app, "SELECT count(*) FROM rollouts")
    for sql in ("UPDATE rollouts SET version = 9", "DELETE FROM rollouts"):
        with (
            pytest.raises((StoreError, DBAPIError), match="append-only"),
            app.service.store.transaction() as tx,
        ):
            tx.conn.exec_driver_sql(sql)
    assert rows(app, "SELECT count(*) FROM rollouts") == before


WEAK = """
id: template-promotion
version: 2
roles: [OWNER]
input: {type: object}
steps:
  - {id: put_in_force, kind: action, action: andon.promotion.apply}
  - {id: promoted, kind: end, outcome: promoted}
"""


def test_only_the_promotion_template_in_force_judges_and_no_version_lowers_the_floor(
    app: bootstrap.App,
) -> None:
    """A process owner publishes a template-promotion without approvals: requests keep
    running the version in force; promoted (by an approved run of that one), it starts
    runs that apply nothing, because two signatures are needed whatever the version."""
    admin, who = app.actor(), at_test(app)
    first = app.promotions.request(who.requester, "lab-hold", 1, "production", ["P1"])
    publish(app.service, who.requester, WEAK)
    second = app.promotions.request(who.requester, "lab-hold", 1, "production", ["P1"])
    assert {app.service.run(admin, r).template_version for r in (first, second)} == {1}
    with pytest.raises(ConflictError, match="stage 'production' is governed"):
        app.lifecycle.put_in_force(who.requester, PROMOTION_TEMPLATE, 2, "production")
    with pytest.raises(InputError, match="do not move to another version"):
        RunMigrations(app.service).migrate(who.requester, Plan(PROMOTION_TEMPLATE, 1, 2))

    # Applied once, however often the step is called (a retry, a re-delivery).
    approve_only(app, who, first)
    call = ActionCall(first, "put_in_force", 1, f"{first}:put_in_force:9", {}, None)
    once, again = app.promotions.apply(call), app.promotions.apply(call)
    assert once == again and once["records"]  # type: ignore[index]
    drain(app)
    assert app.service.run(admin, first).outcome == "promoted"
    with tenant_reader(app) as reader:
        promoted = [a for a in reader.admin_log() if a.action == "template.promoted"]
    assert sum(a.body.get("via_run") == first for a in promoted) == 1

    # The weak version, promoted properly, still cannot put anything in force.
    app.lifecycle.put_in_force(who.requester, PROMOTION_TEMPLATE, 2, "test")
    weak = app.promotions.request(
        who.requester, PROMOTION_TEMPLATE, 2, "production", dry_run_events=0
    )
    approve(app, who, weak)
    assert app.service.run(admin, weak).outcome == "promoted"
    unsigned = app.promotions.request(who.requester, "lab-hold", 1, "production")
    drain(app)
    run = app.service.run(admin, unsigned)
    assert run.template_version == 2 and run.status == "incident"
    assert "has 0 signature(s) meaning approved-for-production" in str(run.state)


def at_test(app: bootstrap.App) -> People:
    """Plant P1, the people, lab-hold v1 published by the author and in force at test."""
    app.directory.create_site(app.actor(), "P1", "Plant 1")
    who = people(app)
    contracts(app)
    publish(app.service, who.author, V1)
    app.lifecycle.put_in_force(who.requester, "lab-hold", 1, "test")
    return who


def approve_only(app: bootstrap.App, who: People, run_id: str) -> None:
    app.service.decide_task(who.owner, signed(f"{run_id}:owner_approval:1"))
    app.service.decide_task(who.qa, signed(f"{run_id}:qa_approval:1"))


def test_a_version_whose_actions_this_installation_lacks_is_not_promoted(tmp_path: Path) -> None:
    """Checked when requested and again when applied: a worker without the action refuses."""
    settings = Settings(store=StoreSettings(f"sqlite:///{tmp_path / 'a.db'}"))
    with_action = bootstrap.build(settings, clock=ManualClock(T0))
    without = bootstrap.build(settings, clock=ManualClock(T0))
    try:
        with_action.actions.register("lab.notify", lambda call: {"sent": True})
        admin = with_action.actor()
        with_action.directory.create_site(admin, "P1", "Plant 1")
        who = people(with_action)
        contracts(with_action)
        publish(with_action.service, who.author, NOTIFYING)
        with_action.lifecycle.put_in_force(who.requester, "lab-hold", 1, "test")
        with pytest.raises(ConflictError, match=r"no action named 'lab\.notify' is registered"):
            without.promotions.request(who.requester, "lab-hold", 1, "production", ["P1"])
        run_id = with_action.promotions.request(who.requester, "lab-hold", 1, "production", ["P1"])
        approve_only(with_action, who, run_id)
        drain(without)
        run = without.service.run(admin, run_id)
        assert run.status == "incident" and "calls actions nothing provides" in str(run.state)
        assert not without.lifecycle.versions(admin, "lab-hold").managed
    finally:
        with_action.close()
        without.close()


NOTIFYING = V1.replace(
    "  - {id: review, kind: approval",
    "  - {id: tell, kind: action, action: lab.notify}\n  - {id: review, kind: approval",
)
