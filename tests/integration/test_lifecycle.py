"""Stages and per-plant rollout (ADR 0031), on both backends: a pilot plant gets a new
version while the others keep theirs, for starts and for trigger starts; a rollback puts
the earlier one back, journaled; republishing an earlier overlay makes it apply again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from andon import bootstrap
from andon.cli import main
from andon.errors import ConflictError, GovernanceError, InputError, NotFoundError
from andon.governance import authz
from andon.runtime import preparation
from andon.runtime.preparation import PreparedStart
from andon.runtime.service import StartRequest
from andon.runtime.templates import TemplateCache
from andon.testing import person, publish, tenant_reader
from andon.web import reads

NCR = """
id: ncr
version: {version}
roles: [QE]
parameters:
  sla: {{type: duration, default: 4h}}
input: {{type: object, required: [lot], properties: {{lot: {{type: string}}}}}}
triggers: [{{event: lab.sample_taken, key: input.lot}}]
steps:
  - {{id: review, kind: approval, roles: [QE], due_in: $sla}}
  - {{id: done, kind: end, outcome: closed_v{version}}}
"""


def overlay(plant: str, sla: str) -> str:
    return f"template: ncr\nplant: {plant}\nparameters: {{sla: {sla}}}\n"


@pytest.fixture
def app(app: bootstrap.App) -> bootstrap.App:
    """The rollout mechanics, with no stage governed (governed promotion: test_promotion.py)."""
    app.lifecycle.set_stages(app.actor(), ["dev", "test", "production"], governed=[])
    return app


@pytest.fixture
def estate(app: bootstrap.App) -> bootstrap.App:
    """Two plants, ncr v1 in force at production everywhere, v2 published (dev only)."""
    for plant in ("P1", "P2"):
        app.directory.create_site(app.actor(), plant, f"Plant {plant}")
    publish(app.service, app.actor(), NCR.format(version=1))
    for stage in ("test", "production"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 1, stage, reason="first release")
    publish(app.service, app.actor(), NCR.format(version=2))
    return app


def started(app: bootstrap.App, plant: str, **choice: object) -> tuple[int, str]:
    """(version, overlay digest) of a run started at ``plant``."""
    request = StartRequest("ncr", {"lot": "L1"}, plant, **choice)  # type: ignore[arg-type]
    row = app.service.run(app.actor(), app.service.start_run(app.actor(), request))
    return row.template_version, row.overlay_digest


def triggered(app: bootstrap.App, plant: str, event_id: str) -> list[int]:
    """Versions of the runs an event at ``plant`` starts."""
    got = app.service.send_event(
        app.actor(), "lab.sample_taken", event_id, {"lot": event_id}, event_id=event_id,
        plant=plant,
    )  # fmt: skip
    return [app.service.run(app.actor(), r).template_version for r in got.started]


def test_a_pilot_plant_gets_the_new_version_and_a_rollback_puts_the_old_one_back(
    estate: bootstrap.App,
) -> None:
    app = estate
    # Published is not live: v2 is in force at dev only.
    assert [started(app, p)[0] for p in ("P1", "P2")] == [1, 1]
    assert triggered(app, "P1", "e1") == [1]
    assert started(app, "P1", stage="dev")[0] == 2
    with pytest.raises(ConflictError, match="not in force at stage 'test'"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 2, "production", ["P1"])
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "test")
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "production", ["P1"], reason="pilot")

    assert [started(app, p)[0] for p in ("P1", "P2")] == [2, 1]
    assert (triggered(app, "P1", "e2"), triggered(app, "P2", "e3")) == ([2], [1])
    assert started(app, "P2", version=2)[0] == 2, "a named version still starts"
    view = app.lifecycle.versions(app.actor(), "ncr")
    table = {(f.stage, f.plant): f.record.version for f in view.in_force}
    assert view.managed and table == {
        ("dev", ""): 2, ("test", ""): 2, ("production", ""): 1, ("production", "P1"): 2,
    }  # fmt: skip

    back = app.lifecycle.rollback(app.actor(), "ncr", "P1", reason="pilot failed")
    assert back.version is None, "P1 follows the record for every plant again"
    assert [started(app, p)[0] for p in ("P1", "P2")] == [1, 1]
    assert triggered(app, "P1", "e4") == [1]
    with tenant_reader(app) as reader:
        acts = [(a.action, a.subject, a.body) for a in reader.admin_log()]
    assert acts[-1][:2] == ("template.rolled_back", "ncr")
    assert acts[-1][2]["plant"] == "P1" and acts[-1][2]["reason"] == "pilot failed"
    assert ("template.promoted", "ncr@2") in [a[:2] for a in acts]
    report = app.auditor.verify()
    assert report.ok, report.problems


def test_waves_widen_a_rollout_and_every_plant_means_every_plant(
    estate: bootstrap.App,
) -> None:
    app = estate
    app.directory.create_site(app.actor(), "P3", "Plant P3")
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "test")
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "production", ["P1"])
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "test", ["P2"])  # already: no-op
    publish(app.service, app.actor(), NCR.format(version=3))
    app.lifecycle.put_in_force(app.actor(), "ncr", 3, "test")
    # v2 is no longer in force at test, but a wave may widen its production rollout.
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "production", ["P2"])
    assert [started(app, p)[0] for p in ("P1", "P2", "P3")] == [2, 2, 1]
    added = app.lifecycle.put_in_force(app.actor(), "ncr", 3, "production")
    assert sorted(r.plant for r in added) == ["", "P1", "P2"]
    assert [started(app, p)[0] for p in ("P1", "P2", "P3")] == [3, 3, 3]
    app.lifecycle.rollback(app.actor(), "ncr", "P2")
    app.lifecycle.rollback(app.actor(), "ncr")  # every plant: back to v1
    assert [started(app, p)[0] for p in ("P1", "P2", "P3")] == [3, 2, 1]


def test_a_start_prepared_before_a_promotion_starts_on_the_promoted_version(
    estate: bootstrap.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start decided ahead (ADR 0028) is decided again when what is in force changed
    between its preparation and its transaction."""
    app = estate
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "test")
    real = preparation.starts
    prepared: list[PreparedStart | None] = []

    def starts_then_promote(
        templates: TemplateCache,
        tenant: str,
        requests: list[tuple[StartRequest, str, str]],
        now: datetime,
    ) -> list[PreparedStart | None]:
        prepared.extend(real(templates, tenant, requests, now))
        app.lifecycle.put_in_force(app.actor(), "ncr", 2, "production", ["P1"])
        return prepared

    monkeypatch.setattr(preparation, "starts", starts_then_promote)
    assert triggered(app, "P1", "e1") == [2]
    [ahead] = prepared
    assert ahead is not None and ahead.started.template_version == 1


def test_republishing_an_earlier_overlay_makes_it_apply_again(app: bootstrap.App) -> None:
    app.directory.create_site(app.actor(), "P1", "Plant 1")
    publish(app.service, app.actor(), NCR.format(version=1))
    a = app.service.publish_overlay(app.actor(), overlay("P1", "1h"))
    b = app.service.publish_overlay(app.actor(), overlay("P1", "2h"))
    assert started(app, "P1")[1] == b.digest
    again = app.service.publish_overlay(app.actor(), overlay("P1", "1h"))
    assert again.digest == a.digest
    assert started(app, "P1")[1] == a.digest, "the earlier overlay applies to new runs"
    app.service.publish_overlay(app.actor(), overlay("P1", "1h"))  # the newest already
    revisions = app.lifecycle.versions(app.actor(), "ncr").overlays
    assert [(r.revision, r.digest) for r in revisions] == [
        (1, a.digest), (2, b.digest), (3, a.digest),
    ]  # fmt: skip
    with tenant_reader(app) as reader:
        published = [a.body for a in reader.admin_log() if a.action == "overlay.published"]
    assert [p["revision"] for p in published] == [1, 2, 3]
    history = app.service.overlay_history(app.actor(), "ncr", "P1")
    assert [(h.published.row.digest, h.newest) for h in history] == [
        (a.digest, True), (b.digest, False), (a.digest, False),
    ]  # fmt: skip
    changed = app.service.overlay_diff(app.actor(), "ncr", "P1")
    assert (changed.old_digest, changed.new_digest) == (b.digest, a.digest)
    shown = reads.overlays(app, app.actor(), "ncr")  # the web UI's template page
    assert [(o.plant, o.digest, o.superseded) for o in shown] == [("P1", a.digest, 2)]


def test_a_promotion_may_pin_the_plants_overlay_revision(app: bootstrap.App) -> None:
    app.directory.create_site(app.actor(), "P1", "Plant 1")
    publish(app.service, app.actor(), NCR.format(version=1))
    first = app.service.publish_overlay(app.actor(), overlay("P1", "1h"))
    for stage in ("test", "production"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 1, stage, ["P1"], overlay_revision=1)
    app.service.publish_overlay(app.actor(), overlay("P1", "3h"))
    assert started(app, "P1") == (1, first.digest)
    assert triggered(app, "P1", "e1") == [1]
    with tenant_reader(app) as reader:
        digests = {r.overlay_digest for r in reader.runs(None, 10)}
    assert digests == {first.digest}
    with pytest.raises(InputError, match="exactly one plant"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 1, "production", overlay_revision=1)
    with pytest.raises(NotFoundError, match="no overlay revision 9"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 1, "production", ["P1"], overlay_revision=9)


def test_an_unmanaged_template_starts_its_latest_version(app: bootstrap.App) -> None:
    publish(app.service, app.actor(), NCR.format(version=1))
    app.lifecycle.put_in_force(app.actor(), "ncr", 1, "test")
    publish(app.service, app.actor(), NCR.format(version=2))
    assert started(app, "")[0] == 2
    assert triggered(app, "", "e1") == [2]
    assert not app.lifecycle.versions(app.actor(), "ncr").managed


def test_a_plant_with_nothing_in_force_starts_nothing(app: bootstrap.App) -> None:
    for plant in ("P1", "P2"):
        app.directory.create_site(app.actor(), plant, plant)
    publish(app.service, app.actor(), NCR.format(version=1))
    for stage in ("test", "production"):
        app.lifecycle.put_in_force(app.actor(), "ncr", 1, stage, ["P1"])
    assert started(app, "P1")[0] == 1
    with pytest.raises(NotFoundError, match="in force at stage 'production' for plant 'P2'"):
        started(app, "P2")
    assert triggered(app, "P2", "e1") == []
    with pytest.raises(ConflictError, match="no earlier version"):
        app.lifecycle.rollback(app.actor(), "ncr", "P1")


def test_wrong_promotions_are_refused_naming_what(estate: bootstrap.App) -> None:
    app, admin = estate, estate.actor()
    with pytest.raises(InputError, match=r"unknown stage 'prod' .*dev, test, production"):
        app.lifecycle.put_in_force(admin, "ncr", 2, "prod")
    with pytest.raises(NotFoundError, match="no published template 'ncr@7'"):
        app.lifecycle.put_in_force(admin, "ncr", 7, "dev")
    with pytest.raises(NotFoundError, match="no site 'XX'"):
        app.lifecycle.put_in_force(admin, "ncr", 2, "dev", ["XX"])
    with pytest.raises(ConflictError, match=r"nothing of ncr .* for plant 'P2'"):
        app.lifecycle.rollback(admin, "ncr", "P2", "test")
    with pytest.raises(ConflictError, match="no earlier version"):
        app.lifecycle.rollback(admin, "ncr")
    with pytest.raises(InputError, match="not both"):
        started(app, "P1", version=1, stage="test")
    with pytest.raises(InputError, match="unknown stage 'qa'"):
        started(app, "P1", stage="qa")


def test_only_who_may_promote_changes_what_is_in_force(estate: bootstrap.App) -> None:
    app = estate
    app.lifecycle.put_in_force(app.actor(), "ncr", 2, "test")
    operator = person(app, "olga", authz.OPERATOR)
    with pytest.raises(GovernanceError, match=r"template.promote"):
        app.lifecycle.put_in_force(operator, "ncr", 2, "production", ["P1"])
    owner = person(app, "pia", f"{authz.PROCESS_OWNER}@P1")
    with pytest.raises(GovernanceError):
        app.lifecycle.put_in_force(owner, "ncr", 2, "production", ["P2"])
    with pytest.raises(GovernanceError):
        app.lifecycle.put_in_force(owner, "ncr", 2, "production")  # every plant
    app.lifecycle.put_in_force(owner, "ncr", 2, "production", ["P1"])
    assert started(app, "P1")[0] == 2
    with pytest.raises(GovernanceError, match=r"stages.manage"):
        app.lifecycle.set_stages(owner, ["dev", "production"])


def test_stages_are_the_tenants_and_the_first_gets_new_versions(app: bootstrap.App) -> None:
    admin = app.actor()
    assert app.lifecycle.set_stages(admin, ["build", "qa", "live"], []) == ("build", "qa", "live")
    publish(app.service, admin, NCR.format(version=1))
    for stage in ("qa", "live"):
        app.lifecycle.put_in_force(admin, "ncr", 1, stage)
    view = app.lifecycle.versions(admin, "ncr")
    assert [(f.stage, f.record.version) for f in view.in_force] == [
        ("build", 1), ("qa", 1), ("live", 1),
    ]  # fmt: skip
    with pytest.raises(ConflictError, match="qa hold promoted versions"):
        app.lifecycle.set_stages(admin, ["build", "live"])
    with pytest.raises(ConflictError, match="'live' stays the last"):
        app.lifecycle.set_stages(admin, ["build", "live", "qa"])
    with pytest.raises(InputError, match="repeated: qa"):
        app.lifecycle.set_stages(admin, ["qa", "qa"])
    assert app.lifecycle.set_stages(admin, ["dev", "qa", "live"])[0] == "dev"
    assert app.lifecycle.governed(admin) == frozenset(), "no list given: what was governed stays"
    app.lifecycle.set_stages(admin, ["dev", "qa", "live"], ["live"])
    app.lifecycle.set_stages(admin, ["dev", "qa", "live"])
    assert app.lifecycle.governed(admin) == {"live"}
    with pytest.raises(InputError, match="first stage 'dev' cannot be governed"):
        app.lifecycle.set_stages(admin, ["dev", "qa", "live"], ["dev", "live"])
    with pytest.raises(ConflictError, match="stage 'live' is governed"):
        app.lifecycle.put_in_force(admin, "ncr", 1, "live")
    with pytest.raises(InputError, match="unknown stage 'prod'"):
        app.lifecycle.set_stages(admin, ["dev", "qa", "live"], ["prod"])
    with tenant_reader(app) as reader:
        assert [a.action for a in reader.admin_log()].count("stages.set") == 5


SIMPLE = """
id: ncr
version: {version}
roles: [QE]
steps:
  - {{id: review, kind: approval, roles: [QE]}}
  - {{id: done, kind: end, outcome: closed}}
"""


def test_the_cli_promotes_shows_rolls_back_and_the_chain_verifies(tmp_path: Path) -> None:
    env = {"ANDON_DATABASE_URL": f"sqlite:///{tmp_path / 'andon.db'}"}
    cli = CliRunner()

    def andon(*args: str) -> Result:
        return cli.invoke(main.app, list(args), env=env, catch_exceptions=False)

    def publish_version(version: int) -> None:
        path = tmp_path / f"ncr-{version}.yaml"
        path.write_text(SIMPLE.format(version=version), "utf-8")
        assert andon("publish", str(path)).exit_code == 0

    publish_version(1)
    assert andon("sites", "add", "P1").exit_code == 0
    governed = "dev -> test -> production (governed)"
    assert andon("stages", "list").output.strip() == governed
    assert andon("promote", "ncr", "1", "--to", "test").exit_code == 0
    asked = andon("promote", "ncr", "1", "--to", "production", "--dry-run-events", "0")
    assert asked.exit_code == 0 and "awaits its approvals (andon show" in asked.output
    assert "production   " not in andon("versions", "ncr").output, "nothing until approved"
    ungoverned = andon("stages", "set", "dev,test,production", "--governed", "")
    assert ungoverned.output.strip() == "dev -> test -> production"
    for stage in ("test", "production"):
        assert andon("promote", "ncr", "1", "--to", stage).exit_code == 0
    publish_version(2)
    early = andon("promote", "ncr", "2", "--to", "production")
    assert early.exit_code == 1 and "promote it to 'test' before 'production'" in early.output
    assert andon("promote", "ncr", "2", "--to", "test", "--reason", "QA ok").exit_code == 0
    done = andon("promote", "ncr", "2", "--to", "production", "--plants", "P1")
    assert done.exit_code == 0 and "ncr@2 in force at production for P1" in done.output
    shown = andon("versions", "ncr", "--history").output
    assert "production   *              v1" in shown and "production   P1             v2" in shown
    assert "QA ok" in shown
    for plant, version in (("P1", "ncr@2"), ("", "ncr@1")):
        run_id = andon("start", "ncr", "--input", "{}", "--plant", plant).output.strip()
        assert version in andon("show", run_id).output
    back = andon("rollback", "ncr", "--plant", "P1", "--reason", "pilot failed")
    assert back.exit_code == 0 and "P1 follows every plant's version" in back.output
    bad = andon("promote", "ncr", "2", "--to", "prod")
    assert bad.exit_code == 1 and "unknown stage 'prod'" in bad.output
    assert andon("stages", "set", "dev,qa,production").exit_code == 1  # test holds promotions
    verified = andon("audit", "verify")
    assert verified.exit_code == 0, verified.output
