"""Retention purge and legal hold: expired records go, held ones stay, and the audit trail
still verifies after the purge (tombstones in the administrative chain)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from andon import bootstrap
from andon.errors import GovernanceError, InputError, NotFoundError
from andon.governance.retention import PURGED
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.testing import person, publish, tenant_reader
from backends import rows, tamper

QUICK = """
id: {name}
version: 1
retention: {retention}
input: {{type: object, properties: {{n: {{type: integer}}}}}}
steps:
  - {{id: done, kind: end, outcome: closed}}
"""
WAITING = """
id: waiting
version: 1
steps:
  - {id: hold, kind: timer, duration: 30d}
  - {id: done, kind: end, outcome: closed}
"""


def run_ids(app: bootstrap.App) -> set[str]:
    with tenant_reader(app) as reader:
        return {r.run_id for r in reader.runs(None, 1000)}


@pytest.fixture
def estate(app: bootstrap.App) -> dict[str, str]:
    admin = app.actor()
    for name, retention in (("maint", "maintenance"), ("batch", "batch-release")):
        publish(app.service, admin, QUICK.format(name=name, retention=retention))
    publish(app.service, admin, WAITING)
    runs = {
        label: app.service.start_run(admin, StartRequest(template, {}, run_id=label))
        for label, template in (
            ("m-free", "maint"),
            ("m-held", "maint"),
            ("b-1", "batch"),
            ("w-open", "waiting"),
        )
    }
    app.retention.set_period(admin, "maintenance", 30)
    return runs


def test_purge_removes_expired_runs_keeps_held_and_young_ones_and_verifies(
    app: bootstrap.App, estate: dict[str, str], clock: ManualClock
) -> None:
    admin = app.actor()
    hold = app.retention.place_hold(admin, "warranty claim W-77", run_id="m-held")
    assert app.auditor.checkpoint() is not None  # the purged runs' heads are on record
    assert app.retention.purge(admin) == []  # nothing has expired yet
    clock.advance(timedelta(days=31))

    planned = app.retention.purge(admin, dry_run=True)
    assert [p.run_id for p in planned] == ["m-free"]
    assert run_ids(app) == {"m-free", "m-held", "b-1", "w-open"}  # a dry run deletes nothing

    purged = app.retention.purge(admin)
    assert [(p.run_id, p.retention_class) for p in purged] == [("m-free", "maintenance")]
    assert run_ids(app) == {"m-held", "b-1", "w-open"}
    with tenant_reader(app) as reader:
        assert reader.journal("m-free") == []
        tombstones = [a for a in reader.admin_log() if a.action == PURGED]
    assert [(t.subject, t.body["last_seq"], t.body["class"]) for t in tombstones] == [
        ("m-free", 1, "maintenance")
    ]
    report = app.auditor.verify()
    assert report.ok, report.problems
    assert app.auditor.checkpoint() is not None  # signs the tombstone
    assert app.auditor.verify().ok

    app.retention.release_hold(admin, hold)
    assert [p.run_id for p in app.retention.purge(admin)] == ["m-held"]
    assert run_ids(app) == {"b-1", "w-open"}  # batch records keep ten years; w-open runs on
    assert app.auditor.verify().ok


def test_a_template_hold_keeps_every_run_of_the_template(
    app: bootstrap.App, estate: dict[str, str], clock: ManualClock
) -> None:
    admin = app.actor()
    app.retention.place_hold(admin, "recall investigation", template_id="maint")
    clock.advance(timedelta(days=400))
    assert app.retention.purge(admin) == []
    clock.advance(timedelta(days=3653))
    assert [p.run_id for p in app.retention.purge(admin)] == ["b-1"]


def test_a_forged_tombstone_breaks_verification(
    app: bootstrap.App, estate: dict[str, str], clock: ManualClock
) -> None:
    admin = app.actor()
    app.auditor.checkpoint()
    clock.advance(timedelta(days=31))
    app.retention.purge(admin)
    (stored, *_), *_ = rows(app, "SELECT body FROM admin_log WHERE action=:a", a=PURGED)
    body = json.loads(stored)
    body["last_seq"] = 99
    tamper(
        app, "UPDATE admin_log SET body=:b WHERE action=:a", {"b": json.dumps(body), "a": PURGED}
    )
    report = app.auditor.verify()
    assert not report.ok
    assert "admin chain of tenant default" in report.problems[0]


def test_holds_and_periods_are_checked_and_need_the_permission(
    app: bootstrap.App, estate: dict[str, str]
) -> None:
    admin = app.actor()
    with pytest.raises(NotFoundError):
        app.retention.place_hold(admin, "x", run_id="no-such-run")
    with pytest.raises(InputError, match="either one run or one template"):
        app.retention.place_hold(admin, "x", run_id="b-1", template_id="batch")
    with pytest.raises(InputError, match="needs a reason"):
        app.retention.place_hold(admin, " ", run_id="b-1")
    with pytest.raises(NotFoundError):
        app.retention.release_hold(admin, "nope")
    qe = person(app, "anna", "QE")
    with pytest.raises(GovernanceError, match=r"may not retention\.manage"):
        app.retention.purge(qe)
