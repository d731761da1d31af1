"""The audit anchor outside the database, attacked from the database's side: whoever can
write the database deletes checkpoint rows, cuts or rewrites chains, removes whole runs or
puts back an older state; the checkpoint log, a trusted copy of it or a trusted digest
catches each. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from andon import bootstrap
from andon.errors import StoreError
from andon.governance import audit
from andon.runtime import checkpoint_log
from andon.runtime.audit import Trusted
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.testing import publish
from backends import rows, tamper

QUICK = """
id: quick
version: 1
retention: maintenance
input: {type: object, properties: {n: {type: integer}}}
steps:
  - {id: done, kind: end, outcome: closed}
"""


@pytest.fixture
def signed(app: bootstrap.App) -> bootstrap.App:
    """Two runs and a checkpoint, which the log outside the database also holds."""
    admin = app.actor()
    publish(app.service, admin, QUICK)
    for run_id in ("r-1", "r-2"):
        app.service.start_run(admin, StartRequest("quick", {}, run_id=run_id))
    assert app.auditor.checkpoint() is not None
    return app


def log_path(app: bootstrap.App) -> Path:
    assert app.auditor.log is not None
    return app.auditor.log.path


def problems(app: bootstrap.App, trusted: Trusted | None = None) -> list[str]:
    return app.auditor.verify(trusted=trusted).problems


def drop_checkpoints(app: bootstrap.App) -> None:
    """What hides every other change from the database's own checkpoints."""
    tamper(app, "DELETE FROM checkpoint_heads", {})
    tamper(app, "DELETE FROM checkpoints", {})


def test_each_checkpoint_is_logged_outside_the_database_and_verifies(
    signed: bootstrap.App,
) -> None:
    entries = checkpoint_log.read(log_path(signed))
    assert [e.checkpoint.checkpoint_id for e in entries] == [1]
    assert {h.chain_id for h in entries[0].heads} >= {"r-1", "r-2"}
    assert problems(signed) == []


def test_deleted_checkpoint_rows_are_detected_against_the_log(signed: bootstrap.App) -> None:
    drop_checkpoints(signed)
    assert "the database lacks checkpoint 1" in problems(signed)[0]


def test_a_cut_tail_hidden_by_deleting_checkpoints_is_detected(signed: bootstrap.App) -> None:
    tamper(signed, "DELETE FROM run_events WHERE run_id='r-1' AND seq=2", {})
    (first_hash,), *_ = rows(signed, "SELECT hash FROM run_events WHERE run_id='r-1'")
    tamper(signed, "UPDATE runs SET last_seq=1, last_hash=:h WHERE run_id='r-1'", {"h": first_hash})
    drop_checkpoints(signed)
    assert any("lacks checkpoint 1" in p for p in problems(signed))


def test_a_whole_deleted_run_is_detected(signed: bootstrap.App) -> None:
    for table in ("run_events", "tasks", "outbox", "runs"):
        tamper(signed, f"DELETE FROM {table} WHERE run_id='r-2'", {})
    found = problems(signed)
    assert any("run chain r-2 of tenant default lost seq" in p for p in found), found
    drop_checkpoints(signed)
    assert any("lacks checkpoint 1" in p for p in problems(signed))


def test_a_rewritten_chain_resigned_with_a_new_key_is_detected(
    signed: bootstrap.App, tmp_path: Path
) -> None:
    """The attacker re-hashes r-1's journal, drops the checkpoints and re-signs with a key of
    their own: the database verifies with that key, but not against the log."""
    rechain(signed, "r-1", actor="mallory")
    drop_checkpoints(signed)
    keys = signed.auditor.keys
    keys.path.unlink()
    keys._private = None  # the attacker's key now sits where the installation's was
    with pytest.raises(StoreError, match="do not continue the checkpoint log"):
        signed.auditor.checkpoint()
    found = problems(signed)
    assert found and "checkpoint log" in found[0], found


def test_a_rollback_is_refused_against_a_trusted_copy_and_digest(
    signed: bootstrap.App, clock: ManualClock, tmp_path: Path
) -> None:
    trusted_copy = tmp_path / "auditor-copy.jsonl"
    signed.service.start_run(signed.actor(), StartRequest("quick", {}, run_id="r-3"))
    clock.advance(timedelta(minutes=5))
    second = signed.auditor.checkpoint()
    assert second is not None
    shutil.copy(log_path(signed), trusted_copy)
    copy = Trusted(checkpoint_log.read(trusted_copy), "the auditor's copy")
    assert problems(signed, copy) == []
    assert problems(signed, Trusted(digest=second.hash)) == []
    # back to the state before the second checkpoint: r-3 and checkpoint 2 are gone
    tamper(signed, "DELETE FROM checkpoint_heads WHERE checkpoint_id=2", {})
    tamper(signed, "DELETE FROM checkpoints WHERE checkpoint_id=2", {})
    for table in ("run_events", "tasks", "outbox", "runs"):
        tamper(signed, f"DELETE FROM {table} WHERE run_id='r-3'", {})
    log_path(signed).unlink()  # and the local log with it: only outside copies remain
    found = problems(signed, copy)
    assert any("lacks checkpoint 2 that the auditor's copy holds" in p for p in found), found
    found = problems(signed, Trusted(digest=second.hash))
    assert any(f"no checkpoint with the trusted digest {second.hash}" in p for p in found)


def test_an_edited_log_is_detected(signed: bootstrap.App) -> None:
    path = log_path(signed)
    path.write_text(path.read_text().replace('"r-1"', '"r-9"'))
    found = problems(signed)
    assert any("checkpoint log" in p and "heads were changed" in p for p in found), found


def test_a_mangled_log_is_reported(signed: bootstrap.App) -> None:
    path = log_path(signed)
    path.write_text(path.read_text() + "not json\n")
    found = problems(signed)
    assert any(f"checkpoint log {path} line 2" in p for p in found), found


def rechain(app: bootstrap.App, run_id: str, *, actor: str) -> None:
    """Rewrite every row's actor and recompute the hashes, as one who knows the algorithm."""
    found = rows(
        app,
        "SELECT tenant_id, seq, type, body, trace, at FROM run_events WHERE run_id=:r ORDER BY seq",
        r=run_id,
    )
    previous = audit.GENESIS
    for tenant_id, seq, kind, body, trace, at in found:
        record = audit.journal_record(
            tenant_id, run_id, seq, kind, json.loads(body), json.loads(trace), actor, at
        )
        previous = audit.chain_hash(previous, record)
        tamper(
            app,
            "UPDATE run_events SET actor=:a, hash=:h WHERE run_id=:r AND seq=:s",
            {"a": actor, "h": previous, "r": run_id, "s": seq},
        )
    tamper(app, "UPDATE runs SET last_hash=:h WHERE run_id=:r", {"h": previous, "r": run_id})


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE run_events SET actor='mallory' WHERE run_id='r-1'",
        "DELETE FROM run_events WHERE run_id='r-1'",
        "UPDATE admin_log SET actor='mallory'",
        "DELETE FROM admin_log",
        "DELETE FROM checkpoints",
        "UPDATE checkpoint_heads SET seq=0",
        "TRUNCATE run_events",
    ],
)
def test_the_database_refuses_changes_to_journal_rows(
    signed: bootstrap.App, backend: str, statement: str
) -> None:
    if backend == "sqlite" and statement.startswith("TRUNCATE"):
        statement = "DELETE FROM run_events"  # SQLite has no TRUNCATE
    refused = pytest.raises(StoreError, match="the journal is append-only")
    with refused, signed.service.store.transaction() as tx:
        tx.conn.exec_driver_sql(statement)
    assert problems(signed) == []


def test_the_purge_alone_may_delete_journal_rows(signed: bootstrap.App, clock: ManualClock) -> None:
    clock.advance(timedelta(days=1100))
    assert {p.run_id for p in signed.retention.purge(signed.actor())} == {"r-1", "r-2"}
    assert rows(signed, "SELECT run_id FROM run_events") == []
    signed.auditor.checkpoint()
    assert problems(signed) == []
