"""Moving waiting runs to a new template version (ADR 0032), on both backends: a batch of
runs waiting on a task moves to a version that renamed the step, one run mid-action is
refused with its reason, and the moved runs finish on the new version with their
journals still chained."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from andon import bootstrap
from andon.cli import main
from andon.errors import GovernanceError, InputError
from andon.runtime.run_migration import Outcome, Plan, RunMigrations
from andon.runtime.service import StartRequest
from andon.runtime.tasks import TaskDecision
from andon.telemetry.runs import measure_run
from andon.testing import person, publish
from backends import rows

FLOW = """
id: change
version: {version}
roles: [QE]
input: {{type: object, required: [act], properties: {{act: {{type: boolean}}}}}}
steps:
  - {{id: stamp, kind: action, action: test.stamp, when: input.act}}
  - {{id: {review}, kind: approval, roles: [QE], due_in: 4h}}
  - {{id: done, kind: end, outcome: closed_v{version}}}
"""


def flow(version: int, review: str = "review") -> str:
    return FLOW.format(version=version, review=review)


@pytest.fixture
def migrations(app: bootstrap.App) -> RunMigrations:
    app.actions.register("test.stamp", lambda call: {"ok": True})
    publish(app.service, app.actor(), flow(1))
    publish(app.service, app.actor(), flow(2, review="check"))  # the task's step renamed
    publish(app.service, app.actor(), flow(3))  # the same step id as v1
    return RunMigrations(app.service)


def start(app: bootstrap.App, count: int, act: bool = False) -> list[str]:
    requests = [StartRequest("change", {"act": act}, version=1) for _ in range(count)]
    return app.service.start_runs(app.actor(), requests)


def test_a_hundred_waiting_runs_move_and_one_mid_action_is_refused(
    app: bootstrap.App, migrations: RunMigrations
) -> None:
    waiting = start(app, 100)
    [busy] = start(app, 1, act=True)  # its action is in the outbox: no worker ran it

    results = migrations.migrate(app.actor(), Plan("change", 1, 2, {"review": "check"}))

    by_run = {r.run_id: r for r in results}
    assert {by_run[r].outcome for r in waiting} == {Outcome.MIGRATED}
    assert by_run[waiting[0]].moved == {"review": "check"}
    assert by_run[busy].outcome is Outcome.REFUSED
    assert by_run[busy].reason.startswith("step 'stamp' is mid-action")
    assert app.service.run(app.actor(), busy).template_version == 1
    assert {app.service.run(app.actor(), r).template_version for r in waiting} == {2}
    kinds = [j.type for j in app.service.journal(app.actor(), waiting[0])]
    assert kinds == ["RunStarted", "RunMigrated"]
    fact = app.service.journal(app.actor(), waiting[0])[-1]
    assert fact.body == {
        "from_version": 1, "to_version": 2, "mapping": {"review": "check"}, "actor": "admin",
    }  # fmt: skip
    # The old task is closed, the renamed step's task is open, one per run.
    open_steps = rows(app, "SELECT step, count(*) FROM tasks WHERE status = 'open' GROUP BY step")
    assert sorted(open_steps) == [("check", 100)]
    closed = rows(app, "SELECT count(*) FROM tasks WHERE outcome = 'migrated'")
    assert closed == [(100,)]
    # Their next steps follow v2.
    qe = person(app, "anna", "QE")
    app.service.decide_tasks([(qe, TaskDecision(f"{r}:check:1")) for r in waiting])
    ended = {app.service.run(app.actor(), r).outcome for r in waiting}
    assert ended == {"closed_v2"}
    assert app.auditor.verify().ok
    # Measures replay each part of the journal with its own version.
    measured = {s.step: s for s in measure_run(app.service, app.actor(), waiting[0]).steps}
    assert (measured["review"].kind, measured["check"].kind) == ("approval", "approval")
    assert measured["check"].visits == 1 and measured["check"].status == "done"


def test_a_step_kept_under_its_id_keeps_its_task(
    app: bootstrap.App, migrations: RunMigrations
) -> None:
    [run_id] = start(app, 1)

    [result] = migrations.migrate(app.actor(), Plan("change", 1, 3))

    assert (result.outcome, result.moved) == (Outcome.MIGRATED, {})
    open_tasks = rows(app, "SELECT task_id FROM tasks WHERE status = 'open'")
    assert open_tasks == [(f"{run_id}:review:1",)]
    app.service.decide_task(person(app, "anna", "QE"), TaskDecision(f"{run_id}:review:1"))
    assert app.service.run(app.actor(), run_id).outcome == "closed_v3"
    assert app.auditor.verify().ok


def test_refusals_name_their_reason_and_write_nothing(
    app: bootstrap.App, migrations: RunMigrations
) -> None:
    waiting, cancelled = start(app, 2)
    app.service.cancel(app.actor(), cancelled, "raised twice")
    before = rows(app, "SELECT count(*) FROM run_events")

    results = migrations.migrate(
        app.actor(), Plan("change", 1, 2, run_ids=[waiting, cancelled, "nope"])
    )

    reasons = [(r.outcome, r.reason) for r in results]
    assert reasons == [
        (Outcome.REFUSED, "step 'review' is not in change@2: map it (--map review=NEW_STEP)"),
        (Outcome.REFUSED, "the run has ended (cancelled)"),
        (Outcome.REFUSED, "no run 'nope'"),
    ]
    assert rows(app, "SELECT count(*) FROM run_events") == before
    with pytest.raises(InputError, match="change@1 has no step 'reviw'"):
        migrations.migrate(app.actor(), Plan("change", 1, 2, {"reviw": "check"}))


def test_a_dry_run_reports_without_writing(app: bootstrap.App, migrations: RunMigrations) -> None:
    [run_id] = start(app, 1)
    before = rows(app, "SELECT count(*) FROM run_events"), rows(app, "SELECT * FROM tasks")

    [result] = migrations.migrate(
        app.actor(), Plan("change", 1, 2, {"review": "check"}, dry_run=True)
    )

    assert (result.outcome, result.moved) == (Outcome.WOULD_MIGRATE, {"review": "check"})
    after = rows(app, "SELECT count(*) FROM run_events"), rows(app, "SELECT * FROM tasks")
    assert after == before
    assert app.service.run(app.actor(), run_id).template_version == 1


def test_only_a_process_owner_migrates(app: bootstrap.App, migrations: RunMigrations) -> None:
    start(app, 1)
    operator = person(app, "otto", "operator")

    with pytest.raises(GovernanceError, match=r"may not run\.migrate"):
        migrations.migrate(operator, Plan("change", 1, 3))


SIMPLE = """
id: ncr
version: {version}
roles: [QE]
steps:
  - {{id: {review}, kind: approval, roles: [QE]}}
  - {{id: done, kind: end, outcome: closed_v{version}}}
"""


def test_the_cli_migrates_with_a_mapping_and_reports_per_run(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}"}
    cli = CliRunner()

    def andon(*args: str) -> Result:
        return cli.invoke(main.app, list(args), env=env, catch_exceptions=False)

    for version, review in ((1, "review"), (2, "check")):
        path = tmp_path / f"ncr-{version}.yaml"
        path.write_text(SIMPLE.format(version=version, review=review), "utf-8")
        assert andon("publish", str(path)).exit_code == 0
    first, second = (andon("start", "ncr@1", "--input", "{}").output.strip() for _ in range(2))
    args = ("runs", "migrate", "--template", "ncr", "--from", "1", "--to", "2")

    dry = andon(*args, "--map", "review=check", "--dry-run")
    unmapped = andon(*args, "--run", first)
    done = andon(*args, "--map", "review=check")

    assert dry.exit_code == 0 and dry.output.endswith("2 would migrate, 0 refused\n")
    assert f"{first} would-migrate (review -> check)" in dry.output
    assert unmapped.output == (
        f"{first} refused: step 'review' is not in ncr@2: map it (--map review=NEW_STEP)\n"
        "0 migrated, 1 refused\n"
    )
    assert done.exit_code == 0 and f"{second} migrated (review -> check)" in done.output
    assert "ncr@2" in andon("show", first).output
    assert andon("runs", "--status", "running").exit_code == 0  # still lists runs
    assert andon(*args, "--map", "review").exit_code == 2
    assert andon("audit", "verify").exit_code == 0
