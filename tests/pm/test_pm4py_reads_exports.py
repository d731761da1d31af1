"""pm4py reads the OCEL 2.0 and XES exports of ``andon demo --seed 1`` and mines them.

The expected numbers of events, objects and cases come from the demo's database by SQL,
independently of the writers' own code.
"""

from __future__ import annotations

import gzip
import io
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rich.console import Console

from andon.config import Settings, StoreSettings
from andon.export import Scope, write_ocel, write_xes
from andon.store.sqlite import SqliteStore
from andon.tools.demo import run_demo

pytestmark = [
    pytest.mark.pm,
    # pitfall 15: pm4py suggests an optional Rust reader; irrelevant for a test reader.
    pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning"),
]

# The facts a process owner sees (claims, releases, refusals and retry timers are left out)
# and the run-ends; objects by the demo's input fields and action outputs.
EVENTS_SQL = """
SELECT (SELECT count(*) FROM run_events
        WHERE tenant_id = 'default'
          AND type IN ('RunStarted', 'StepSucceeded', 'StepFailed', 'TaskCompleted',
                       'EventReceived', 'TimerFired', 'IncidentRetried', 'RunCancelled')
          AND NOT (type = 'TimerFired' AND json_extract(body, '$.key') LIKE 'retry:%'))
     + (SELECT count(*) FROM runs WHERE tenant_id = 'default' AND status = 'completed')
"""
INPUTS = {
    "ncr_id": "ncr",
    "pr_id": "purchase_requisition",
    "lot": "lot",
    "supplier": "supplier",
    "part": "part",
    "cost_center": "cost_center",
    "requester": "requester",
}
OUTPUTS = {"po": "purchase_order", "scar_id": "scar", "rma": "rma", "concession_id": "concession"}


@dataclass(frozen=True)
class Exported:
    ocel: Path
    xes: Path
    xes_gz: Path
    cases: int
    events: int
    objects: dict[str, int]
    """Distinct objects by type."""
    ncr_links: int
    """Distinct (NCR, lot) and (NCR, supplier) pairs."""


def _objects(db: sqlite3.Connection) -> dict[str, int]:
    parts = ["SELECT 'run' AS type, run_id AS id FROM runs WHERE tenant_id = 'default'"]
    for field, type_ in INPUTS.items():
        value = f"json_extract(body, '$.input.{field}')"
        parts.append(
            f"SELECT '{type_}', {value} FROM run_events WHERE tenant_id = 'default' "
            f"AND type = 'RunStarted' AND {value} IS NOT NULL"
        )
    for field, type_ in OUTPUTS.items():
        value = f"json_extract(body, '$.output.{field}')"
        parts.append(
            f"SELECT '{type_}', {value} FROM run_events WHERE tenant_id = 'default' "
            f"AND type = 'StepSucceeded' AND {value} IS NOT NULL"
        )
    query = f"SELECT type, count(DISTINCT id) FROM ({' UNION '.join(parts)}) GROUP BY type"
    return {str(t): int(n) for t, n in db.execute(query)}


def _ncr_links(db: sqlite3.Connection) -> int:
    query = """
    SELECT count(*) FROM (
      SELECT DISTINCT json_extract(body, '$.input.ncr_id'), 'lot', json_extract(body, '$.input.lot')
      FROM run_events WHERE type = 'RunStarted' AND json_extract(body, '$.input.ncr_id') IS NOT NULL
      UNION
      SELECT DISTINCT json_extract(body, '$.input.ncr_id'), 'supplier',
             json_extract(body, '$.input.supplier')
      FROM run_events WHERE type = 'RunStarted' AND json_extract(body, '$.input.ncr_id') IS NOT NULL
    )"""
    return int(db.execute(query).fetchone()[0])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    folder = tmp_path_factory.mktemp("pm")
    path = folder / "andon.db"
    quiet = Console(file=io.StringIO(), width=120, color_system=None)
    run_demo(Settings(store=StoreSettings(f"sqlite:///{path}")), 1, quiet, quiet)
    store = SqliteStore(path)
    try:
        files = folder / "demo.jsonocel", folder / "demo.xes", folder / "demo.xes.gz"
        for file, writer in zip(files, (write_ocel, write_xes, write_xes), strict=True):
            opener: Any = gzip.open if file.suffix == ".gz" else open
            with opener(file, "wt", encoding="utf-8", newline="\n") as out:
                writer(store, Scope("default"), out)
    finally:
        store.close()
    db = sqlite3.connect(path)
    try:
        cases = int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
        events = int(db.execute(EVENTS_SQL).fetchone()[0])
        yield Exported(*files, cases, events, _objects(db), _ncr_links(db))
    finally:
        db.close()


@pytest.fixture(scope="module")
def pm4py() -> ModuleType:
    import pm4py  # AGPL: only ever imported here

    return pm4py


def test_ocel_gives_the_events_objects_and_cases_of_the_store(
    pm4py: ModuleType, exported: Exported
) -> None:
    ocel = pm4py.read_ocel2_json(str(exported.ocel))

    assert len(ocel.events) == exported.events
    assert ocel.objects["ocel:type"].value_counts().to_dict() == exported.objects
    assert len(ocel.objects) == sum(exported.objects.values())
    runs = ocel.relations[ocel.relations["ocel:type"] == "run"]
    assert len(runs) == exported.events  # every event belongs to exactly one run
    assert runs["ocel:oid"].nunique() == exported.cases
    o2o = ocel.o2o[ocel.o2o["ocel:oid"].str.startswith("ncr:")]
    assert len(o2o[o2o["ocel:qualifier"].isin(["lot", "supplier"])]) == exported.ncr_links

    flat = pm4py.ocel_flattening(ocel, "run")  # one case per run: the classic view
    assert flat["case:concept:name"].nunique() == exported.cases
    assert len(flat) == exported.events
    ocdfg = pm4py.discover_ocdfg(ocel)
    assert "supplier-ncr: mrb decided approve" in ocdfg["activities"]
    assert ocdfg["edges"]["event_couples"]["purchase_order"]


def test_xes_gives_the_events_and_cases_of_the_store_and_a_fitting_model(
    pm4py: ModuleType, exported: Exported
) -> None:
    log = pm4py.read_xes(str(exported.xes))

    assert len(log) == exported.events
    assert log["case:concept:name"].nunique() == exported.cases
    assert str(log["time:timestamp"].dtype).startswith("datetime64")
    assert set(log["lifecycle:transition"]) == {"complete", "ate_abort"}
    assert len(pm4py.read_xes(str(exported.xes_gz))) == exported.events

    dfg, starts, ends = pm4py.discover_dfg(log)
    assert dfg and set(starts) == {"supplier-ncr: started", "purchase-requisition: started"}
    assert "purchase-requisition: ended approved" in ends
    net, initial, final = pm4py.discover_petri_net_inductive(log)
    assert net.transitions
    fitness = pm4py.fitness_token_based_replay(log, net, initial, final)
    assert fitness["log_fitness"] == pytest.approx(1.0)
