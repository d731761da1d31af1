"""``andon audit verify`` against tampering done directly in the database: every case is
detected and the first broken link is named; a clean database verifies."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from test_cli import andon

from andon import bootstrap
from andon.config import Settings, StoreSettings
from andon.governance import audit
from andon.governance.identity import Actor
from andon.runtime.service import Credentials, StartRequest, TaskDecision
from andon.testing import publish

FLOW = """
id: release
version: 1
roles: [PS, QA]
input: {type: object, required: [batch], properties: {batch: {type: string}}}
steps:
  - {id: review, kind: approval, roles: [PS]}
  - {id: release, kind: approval, roles: [QA], signature: release}
  - {id: done, kind: end, outcome: released}
"""
PASSWORD = "release pass phrase"


def _person(app: bootstrap.App, user: str, role: str) -> Actor:
    admin = app.actor()
    app.directory.create_user(admin, user, user.upper(), password=PASSWORD)
    app.directory.grant(admin, user, role)
    return app.actor(user)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield released(tmp_path)


def released(tmp_path: Path) -> Path:
    """Two released batches (3 journal rows each, one signature each) and a checkpoint."""
    path = tmp_path / "andon.db"
    app = bootstrap.build(Settings(store=StoreSettings(f"sqlite:///{path}")))
    try:
        admin = app.actor()
        publish(app.service, admin, FLOW)
        ps, qa = _person(app, "pat", "PS"), _person(app, "quinn", "QA")
        for batch in ("B-1", "B-2"):
            run_id = app.service.start_run(
                admin, StartRequest("release", {"batch": batch}, run_id=batch)
            )
            app.service.decide_task(ps, TaskDecision(f"{run_id}:review:1"))
            app.service.decide_task(
                qa, TaskDecision(f"{run_id}:release:1", credentials=Credentials(PASSWORD, "ok"))
            )
        assert app.auditor.checkpoint() is not None
    finally:
        app.close()
    return path


@contextmanager
def attacker(path: Path) -> Iterator[sqlite3.Connection]:
    """The database file opened behind Andon's back: whoever can write it drops the
    journal's append-only triggers, writes, and puts them back to cover their tracks."""
    with closing(sqlite3.connect(path)) as conn:
        guards = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND (name LIKE '%no_update' OR name LIKE '%no_delete')"
        ).fetchall()
        for name, _ in guards:
            conn.execute(f"DROP TRIGGER {name}")
        yield conn
        for _, create in guards:
            conn.execute(create)
        conn.commit()


def sql(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    with attacker(path) as conn:
        for text, params in statements:
            conn.execute(text, params)


def journal(path: Path, run_id: str) -> list[dict[str, object]]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM run_events WHERE run_id=? ORDER BY seq", (run_id,))
        return [dict(r) for r in rows]


def rechain_journal(path: Path, run_id: str, rows: list[dict[str, object]]) -> None:
    """What an attacker who knows the algorithm does: rewrite the run's whole chain."""
    previous = audit.GENESIS
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM run_events WHERE run_id=?", (run_id,))
    ]
    for seq, row in enumerate(rows, start=1):
        record = audit.journal_record(
            "default", run_id, seq, str(row["type"]), json.loads(str(row["body"])),
            json.loads(str(row["trace"])), str(row["actor"]), float(str(row["at"])),
        )  # fmt: skip
        previous = audit.chain_hash(previous, record)
        statements.append(
            (
                "INSERT INTO run_events (tenant_id, run_id, seq, type, body, trace, actor, at, hash)"
                " VALUES ('default', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    seq,
                    row["type"],
                    row["body"],
                    row["trace"],
                    row["actor"],
                    row["at"],
                    previous,
                ),
            )
        )
    statements.append(
        ("UPDATE runs SET last_seq=?, last_hash=? WHERE run_id=?", (len(rows), previous, run_id))
    )
    sql(path, *statements)


def admin_rows(path: Path) -> list[dict[str, object]]:
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM admin_log WHERE tenant_id='default' ORDER BY seq")
        return [dict(r) for r in rows]


def rechain_admin(path: Path, rows: list[dict[str, object]]) -> None:
    previous = audit.GENESIS
    statements: list[tuple[str, tuple[object, ...]]] = [
        ("DELETE FROM admin_log WHERE tenant_id='default'", ())
    ]
    for seq, row in enumerate(rows, start=1):
        record = audit.admin_record(
            "default", seq, str(row["action"]), str(row["subject"]),
            json.loads(str(row["body"])), str(row["actor"]), float(str(row["at"])),
        )  # fmt: skip
        previous = audit.chain_hash(previous, record)
        statements.append(
            (
                "INSERT INTO admin_log (tenant_id, seq, action, subject, body, actor, at, hash)"
                " VALUES ('default', ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    row["action"],
                    row["subject"],
                    row["body"],
                    row["actor"],
                    row["at"],
                    previous,
                ),
            )
        )
    sql(path, *statements)


def _swap_journal(path: Path) -> None:
    sql(
        path,
        ("UPDATE run_events SET seq=-1 WHERE run_id='B-1' AND seq=2", ()),
        ("UPDATE run_events SET seq=2 WHERE run_id='B-1' AND seq=3", ()),
        ("UPDATE run_events SET seq=3 WHERE run_id='B-1' AND seq=-1", ()),
    )


def _insert_journal(path: Path) -> None:
    rows = journal(path, "B-1")
    forged = dict(rows[1], body=json.dumps({"step": "review", "note": "forged"}))
    sql(
        path,
        *[
            ("UPDATE run_events SET seq=? WHERE run_id='B-1' AND seq=?", (seq + 1, seq))
            for seq in range(len(rows), 1, -1)
        ],
        (
            "INSERT INTO run_events (tenant_id, run_id, seq, type, body, trace, actor, at, hash)"
            " VALUES ('default', 'B-1', 2, 'TaskClaimed', ?, '[]', 'mallory', ?, ?)",
            (forged["body"], forged["at"], "0" * 64),
        ),
    )


def _cut_journal_tail(path: Path) -> None:
    rows = journal(path, "B-1")
    sql(
        path,
        ("DELETE FROM run_events WHERE run_id='B-1' AND seq=?", (len(rows),)),
        (
            "UPDATE runs SET last_seq=?, last_hash=? WHERE run_id='B-1'",
            (len(rows) - 1, rows[-2]["hash"]),
        ),
    )


def _replace_journal_tail(path: Path) -> None:
    rows = journal(path, "B-1")
    body = json.loads(str(rows[2]["body"]))
    body["comment"] = "approved without review"
    rows[2]["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    rechain_journal(path, "B-1", rows)


def _copy_signature(path: Path) -> None:
    """B-2's release signature pasted onto B-1's release decision, chain recomputed."""
    donor = next(r for r in journal(path, "B-2") if '"meaning"' in str(r["body"]))
    rows = journal(path, "B-1")
    index = next(i for i, r in enumerate(rows) if '"meaning"' in str(r["body"]))
    body = json.loads(str(rows[index]["body"]))
    body["signature"] = json.loads(str(donor["body"]))["signature"]
    rows[index]["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
    rechain_journal(path, "B-1", rows)


def _admin_change(path: Path) -> None:
    sql(path, ("UPDATE admin_log SET actor='mallory' WHERE tenant_id='default' AND seq=3", ()))


def _admin_delete(path: Path) -> None:
    sql(path, ("DELETE FROM admin_log WHERE tenant_id='default' AND seq=3", ()))


def _admin_insert(path: Path) -> None:
    rows = admin_rows(path)
    sql(
        path,
        *[
            ("UPDATE admin_log SET seq=? WHERE tenant_id='default' AND seq=?", (seq + 1, seq))
            for seq in range(len(rows), 2, -1)
        ],
        (
            "INSERT INTO admin_log (tenant_id, seq, action, subject, body, actor, at, hash)"
            " VALUES ('default', 3, 'grant.added', 'mallory', '{}', 'admin', 0, ?)",
            ("f" * 64,),
        ),
    )


def _admin_swap(path: Path) -> None:
    sql(
        path,
        ("UPDATE admin_log SET seq=-1 WHERE tenant_id='default' AND seq=3", ()),
        ("UPDATE admin_log SET seq=3 WHERE tenant_id='default' AND seq=4", ()),
        ("UPDATE admin_log SET seq=4 WHERE tenant_id='default' AND seq=-1", ()),
    )


def _admin_replace_tail(path: Path) -> None:
    rows = admin_rows(path)
    rows[-1]["subject"] = "mallory"
    rechain_admin(path, rows)


def _admin_cut_tail(path: Path) -> None:
    rows = admin_rows(path)
    sql(path, ("DELETE FROM admin_log WHERE tenant_id='default' AND seq>=?", (len(rows) - 1,)))


def _checkpoint_heads(path: Path) -> None:
    sql(path, ("UPDATE checkpoint_heads SET hash=? WHERE chain_id='B-2'", ("a" * 64,)))


def _checkpoint_forged(path: Path) -> None:
    """Rewrite a chain's tail and the checkpoint's heads and digest: only the key is missing."""
    _replace_journal_tail(path)
    from andon.governance import checkpoints as cps

    with attacker(path) as conn:
        last = conn.execute("SELECT last_seq, last_hash FROM runs WHERE run_id='B-1'").fetchone()
        conn.execute(
            "UPDATE checkpoint_heads SET seq=?, hash=? WHERE chain_id='B-1'", (last[0], last[1])
        )
        heads = [
            cps.Head(*r)
            for r in conn.execute(
                "SELECT tenant_id, chain, chain_id, seq, hash FROM checkpoint_heads"
            )
        ]
        row = conn.execute("SELECT at, previous, heads, key_id FROM checkpoints").fetchone()
        cp = cps.Checkpoint(1, row[0], row[1], cps.heads_digest(heads), row[2], row[3])
        conn.execute("UPDATE checkpoints SET heads_digest=?, hash=?", (cp.heads_digest, cp.hash))


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "journal: change a field": (
        lambda p: sql(
            p, ("UPDATE run_events SET actor='mallory' WHERE run_id='B-1' AND seq=2", ())
        ),
        "run B-1 seq 2: hash does not match",
    ),
    "journal: delete a row": (
        lambda p: sql(p, ("DELETE FROM run_events WHERE run_id='B-1' AND seq=2", ())),
        "run B-1 seq 3: expected seq 2",
    ),
    "journal: insert a row": (_insert_journal, "run B-1 seq 2: hash does not match"),
    "journal: reorder two rows": (_swap_journal, "run B-1 seq 2: hash does not match"),
    "journal: cut the tail": (_cut_journal_tail, "run chain B-1 of tenant default lost seq"),
    "journal: replace the tail": (_replace_journal_tail, "run chain B-1 of tenant default seq"),
    "journal: copy a signature": (_copy_signature, "signature was made for run_id 'B-2'"),
    "admin: change a field": (_admin_change, "admin chain of tenant default seq 3: hash"),
    "admin: delete a row": (_admin_delete, "admin chain of tenant default seq 4: expected seq 3"),
    "admin: insert a row": (_admin_insert, "admin chain of tenant default seq 3: hash"),
    "admin: reorder two rows": (_admin_swap, "admin chain of tenant default seq 3: hash"),
    "admin: replace the tail": (_admin_replace_tail, "was rewritten after the checkpoint"),
    "admin: cut the tail": (_admin_cut_tail, "admin chain default of tenant default lost seq"),
    "checkpoint: change a head": (
        _checkpoint_heads,
        "checkpoint 1: its recorded heads were changed",
    ),
    "checkpoint: forge without the key": (_checkpoint_forged, "checkpoint 1: the signature"),
}


def test_a_clean_database_verifies(db: Path) -> None:
    result = andon(db.parent, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified: 2 runs, 6 journal rows, 2 signatures" in result.stdout


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_is_detected_and_the_first_broken_link_named(db: Path, case: str) -> None:
    tamper, expected = CASES[case]
    tamper(db)
    result = andon(db.parent, "audit", "verify")
    assert result.returncode == 1, result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("BROKEN ") and expected in first, result.stdout
