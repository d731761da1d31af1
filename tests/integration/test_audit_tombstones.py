"""Tombstones judged against the legal holds and retention periods in the administrative
chain, and sealed by the purge: a run deleted by hand under a correctly hashed tombstone
fails verification. The signing key stays out of the database's folder. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_audit_anchor import QUICK

from andon import bootstrap
from andon.config import AuditSettings, Settings, StoreSettings
from andon.errors import StoreError
from andon.governance import audit
from andon.governance.retention import PURGED
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import rows, tamper


@pytest.fixture
def estate(app: bootstrap.App) -> bootstrap.App:
    admin = app.actor()
    publish(app.service, admin, QUICK)
    for run_id in ("free", "held"):
        app.service.start_run(admin, StartRequest("quick", {}, run_id=run_id))
    app.retention.set_period(admin, "maintenance", 30)
    app.retention.place_hold(admin, "warranty claim W-77", run_id="held")
    assert app.auditor.checkpoint() is not None
    return app


def forge_tombstone(app: bootstrap.App, run_id: str, now: float) -> None:
    """Delete the run and append a tombstone with the right hash, as the purge would."""
    (last_seq, last_hash, ended_at), *_ = rows(
        app, "SELECT last_seq, last_hash, ended_at FROM runs WHERE run_id=:r", r=run_id
    )
    for table in ("run_events", "tasks", "outbox", "runs"):
        tamper(app, f"DELETE FROM {table} WHERE run_id=:r", {"r": run_id})
    (seq, previous), *_ = rows(
        app, "SELECT seq, hash FROM admin_log WHERE tenant_id='default' ORDER BY seq DESC LIMIT 1"
    )
    body = {"template": "quick@1", "template_id": "quick", "class": "maintenance", "days": 30,
            "ended_at": ended_at, "last_seq": last_seq, "last_hash": last_hash}  # fmt: skip
    digest = audit.chain_hash(
        previous, audit.admin_record("default", seq + 1, PURGED, run_id, body, "admin", now)
    )
    tamper(
        app,
        "INSERT INTO admin_log (tenant_id, seq, action, subject, body, actor, at, hash)"
        " VALUES ('default', :s, :a, :r, :b, 'admin', :t, :h)",
        {"s": seq + 1, "a": PURGED, "r": run_id, "b": json.dumps(body), "t": now, "h": digest},
    )


def test_a_genuine_purge_verifies_and_awaits_its_checkpoint(
    estate: bootstrap.App, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=31))
    assert [p.run_id for p in estate.retention.purge(estate.actor())] == ["free"]
    report = estate.auditor.verify()
    assert report.ok, report.problems
    assert any("tombstone of run free awaits a checkpoint" in n for n in report.notes)
    estate.auditor.checkpoint()
    report = estate.auditor.verify()
    assert report.ok and report.notes == []


def test_a_forged_tombstone_for_a_held_run_fails(estate: bootstrap.App, clock: ManualClock) -> None:
    clock.advance(timedelta(days=31))
    forge_tombstone(estate, "held", clock.now().timestamp())
    found = estate.auditor.verify().problems
    assert any(
        "tombstone of run held purged a run that had to be kept: under legal hold" in p
        for p in found
    ), found


def test_a_forged_tombstone_without_a_seal_fails_even_for_an_expired_run(
    estate: bootstrap.App, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=31))
    forge_tombstone(estate, "free", clock.now().timestamp())
    found = estate.auditor.verify().problems
    assert any("tombstone of run free has no seal" in p for p in found), found


def test_a_purge_before_the_period_ends_fails(estate: bootstrap.App, clock: ManualClock) -> None:
    clock.advance(timedelta(days=3))
    forge_tombstone(estate, "free", clock.now().timestamp())
    found = estate.auditor.verify().problems
    assert any("had to be kept: kept for 30 days" in p for p in found), found


def test_the_signing_key_is_refused_in_the_database_folder(tmp_path: Path) -> None:
    store = StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}")
    beside = Settings(store=store, signing_key=tmp_path / "signing-key")
    app = bootstrap.build(beside)
    try:
        with pytest.raises(StoreError) as refused:
            app.auditor.checkpoint()
        assert str(tmp_path / "signing-key") in str(refused.value)
        assert f"folder of the database {tmp_path}" in str(refused.value)
        assert not (tmp_path / "signing-key").exists()
    finally:
        app.close()
    allowed = Settings(
        store=store,
        signing_key=tmp_path / "signing-key",
        audit=AuditSettings(config_dir=tmp_path / "config", allow_key_beside_db=True),
    )
    app = bootstrap.build(allowed)
    try:
        app.auditor.checkpoint()
        assert (tmp_path / "signing-key").exists()
    finally:
        app.close()


def test_a_key_left_beside_the_database_by_an_older_release_is_named(tmp_path: Path) -> None:
    (tmp_path / "andon.db.signing-key").write_text("old key")
    settings = Settings(
        store=StoreSettings(f"sqlite:///{tmp_path / 'andon.db'}"),
        audit=AuditSettings(config_dir=tmp_path / "config"),
    )
    app = bootstrap.build(settings)
    try:
        with pytest.raises(StoreError, match="from an older release") as refused:
            app.auditor.checkpoint()
        assert str(tmp_path / "config" / "signing-key") in str(refused.value)
    finally:
        app.close()
