"""``andon audit`` with the anchor outside the database, as an auditor runs it: a SQLite
file put back from an older copy fails against a trusted log copy or digest, and evidence
bundles verify offline with only the public key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_audit_verify import PASSWORD, _person, released
from test_cli import andon

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.runtime.service import Credentials, StartRequest, TaskDecision


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return released(tmp_path)


def release_another(path: Path, batch: str) -> str:
    """One more released batch and a checkpoint; the new checkpoint's digest."""
    app = bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{path}")))
    try:
        admin = app.actor()
        ps, qa = _person(app, f"p{batch}", "PS"), _person(app, f"q{batch}", "QA")
        run_id = app.service.start_run(
            admin, StartRequest("release", {"batch": batch}, run_id=batch)
        )
        app.service.decide_task(ps, TaskDecision(f"{run_id}:review:1"))
        app.service.decide_task(
            qa, TaskDecision(f"{run_id}:release:1", credentials=Credentials(PASSWORD, "ok"))
        )
        cp = app.auditor.checkpoint()
        assert cp is not None
        return cp.hash
    finally:
        app.close()


def test_an_older_copy_of_the_database_is_refused(db: Path, tmp_path: Path) -> None:
    old = tmp_path / "old-copy.db"
    shutil.copy(db, old)
    digest = release_another(db, "B-3")
    assert andon(db.parent, "audit", "verify", "--trusted-digest", digest).returncode == 0
    trusted = tmp_path / "auditor.jsonl"  # the auditor's copy of the log
    log = Settings(store=StoreSettings(f"sqlite:///{db}")).checkpoint_log_path
    assert log is not None
    shutil.copy(log, trusted)
    assert andon(db.parent, "audit", "verify", "--trusted", str(trusted)).returncode == 0

    shutil.copy(old, db)  # the rollback: B-3 and checkpoint 2 are gone
    result = andon(db.parent, "audit", "verify")
    assert result.returncode == 1 and "the database lacks checkpoint 2" in result.stdout
    result = andon(db.parent, "audit", "verify", "--trusted-digest", digest)
    assert f"no checkpoint with the trusted digest {digest}" in result.stdout
    result = andon(db.parent, "audit", "verify", "--trusted", str(trusted))
    assert "lacks checkpoint 2 that the trusted log" in result.stdout
    bad = andon(db.parent, "audit", "verify", "--trusted-digest", "xyz")
    assert bad.returncode != 0 and "64 hexadecimal digits" in bad.stderr


def test_evidence_bundles_verify_offline_and_tampering_fails(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    assert andon(db.parent, "audit", "export", "B-1", "--out", str(out)).returncode == 0
    key = tmp_path / "public.pem"
    key.write_text(andon(db.parent, "audit", "public-key").stdout)
    elsewhere = tmp_path / "auditor"  # no database here, none is needed
    elsewhere.mkdir()
    result = andon(elsewhere, "audit", "verify-bundle", str(out), "--public-key", str(key))
    assert result.returncode == 0 and "verified: B-1.evidence.json" in result.stdout
    assert list(elsewhere.iterdir()) == []

    path = out / "B-1.evidence.json"
    genuine = path.read_text()
    bundle = json.loads(genuine)
    bundle["journal"][1]["actor"] = "mallory"
    path.write_text(json.dumps(bundle))
    result = andon(elsewhere, "audit", "verify-bundle", str(out), "--public-key", str(key))
    assert result.returncode == 1
    assert "BROKEN B-1.evidence.json: run B-1 seq 2: hash does not match" in result.stdout

    bundle = json.loads(genuine)
    bundle["chain"]["checkpoint"]["heads"][0]["seq"] = 99
    path.write_text(json.dumps(bundle))
    result = andon(elsewhere, "audit", "verify-bundle", str(path), "--public-key", str(key))
    assert "checkpoint 1: its recorded heads were changed" in result.stdout
