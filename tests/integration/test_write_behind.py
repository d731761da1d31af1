"""Writes held back until the next answer or the commit (PostgreSQL pipelines them) keep
the guarantees of writes sent one by one: a guarded run update that misses rolls the whole
transaction back, and later reads in the transaction see the held writes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from andon import bootstrap
from andon.errors import StaleRunError
from andon.runtime.service import StartRequest
from andon.store.base import JournalRow
from andon.testing import publish
from backends import rows

FLOW = """
id: held
version: 1
steps:
  - {id: wait, kind: wait, event: lab.result, key: "'L1'"}
  - {id: done, kind: end, outcome: closed}
"""


@pytest.fixture
def run_id(app: bootstrap.App) -> str:
    publish(app.service, app.actor(), FLOW)
    return app.service.start_run(app.actor(), StartRequest("held", {}))


def test_a_stale_update_rolls_back_everything_held_with_it(app: bootstrap.App, run_id: str) -> None:
    before = rows(app, "SELECT count(*) FROM run_events")
    stale = pytest.raises(StaleRunError, match=f"run {run_id} changed since revision 7")
    with stale, app.service.store.transaction() as unscoped:
        tx = unscoped.scoped("default")
        row = tx.run(run_id)
        assert row is not None
        tx.append_journal(JournalRow(run_id, row.last_seq + 1, "Noted", {}, [], "test", 0.0, "x"))
        tx.update_run(replace(row, revision=8), expected_revision=7)  # nobody has 7
    assert rows(app, "SELECT count(*) FROM run_events") == before  # the journal row too
    assert rows(app, "SELECT revision FROM runs WHERE run_id = :r", r=run_id) == [(1,)]


def test_reads_in_the_transaction_see_the_held_writes(app: bootstrap.App, run_id: str) -> None:
    with app.service.store.transaction() as unscoped:
        tx = unscoped.scoped("default")
        row = tx.run(run_id)
        assert row is not None
        tx.enqueue(run_id, "timer:x:1", "timer", {"key": "timer:x:1"}, 5.0, 1.0)
        tx.dequeue(run_id, "timer:x:1")
        tx.enqueue(run_id, "timer:y:1", "timer", {"key": "timer:y:1"}, 5.0, 1.0)
        found = tx.conn.exec_driver_sql(
            f"SELECT key FROM outbox WHERE run_id = '{run_id}' ORDER BY key"
        ).all()
    assert [k for (k,) in found] == ["timer:y:1"]  # in order: queued, cancelled, queued
