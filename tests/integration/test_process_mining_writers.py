"""OCEL 2.0 JSON and XES written from a small journal: structure, escaping, and counts
checked against the store itself (SQLite and PostgreSQL). pm4py reads them in tests/pm."""

from __future__ import annotations

import gzip
import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from andon import bootstrap
from andon.actions.registry import ActionCall
from andon.cli.main import app as cli
from andon.core.json import JsonValue
from andon.errors import ActionError, GovernanceError
from andon.export import Scope, scope_for, write_ocel, write_xes
from andon.export.xes import escape
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.testing import drain, person, publish, tenant_reader

NCR = """
id: ncr-mini
version: 1
roles: [QE, QAM]
input:
  type: object
  required: [ncr_id, lot, supplier]
  properties:
    ncr_id: {type: string}
    lot: {type: string}
    supplier: {type: string}
    qty: {type: integer}
steps:
  - {id: contain, kind: action, action: erp.block, input: {lot: input.lot}, retry: {max_attempts: 3, initial: 1s}}
  - id: mrb
    kind: approval
    roles: [QE]
    due_in: 4h
    escalate: [{after: 2h, to: QAM}]
  - {id: order, kind: action, action: erp.order, input: {lot: input.lot}}
  - {id: await_answer, kind: wait, event: supplier.answered, key: input.ncr_id}
  - {id: closed, kind: end, outcome: closed}
"""
NOTE = """
id: note
version: 1
roles: [QE]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
steps:
  - {id: log, kind: action, action: erp.block, input: {lot: input.lot}}
"""
TRICKY = 'L<1>&"2"\'\x01 Müller'
XES = "{http://www.xes-standard.org/}"
# Facts a process owner sees: everything but claims, releases, refusals and retry timers.
SHOWN = {"RunStarted", "StepSucceeded", "StepFailed", "TaskCompleted", "EventReceived"}
SHOWN |= {"TimerFired", "IncidentRetried", "RunCancelled"}


@pytest.fixture
def runs(app: bootstrap.App, clock: ManualClock) -> dict[str, str]:
    """An NCR through retry, escalation, decision, purchase order and answer; one cancelled
    with markup and control characters in its lot; a run of another template, a day later."""
    failed: set[str] = set()

    def block(call: ActionCall) -> JsonValue:
        if call.run_id not in failed:
            failed.add(call.run_id)
            raise ActionError("ERP gateway: HTTP 503")
        return {"blocked": call.input["lot"]}

    app.actions.register("erp.block", block)
    app.actions.register("erp.order", lambda call: {"po": "PO-<7>&1", "status": "created"})
    publish(app.service, app.actor(), NCR, "ncr.yaml")
    publish(app.service, app.actor(), NOTE, "note.yaml")
    admin = app.actor()
    first = {"ncr_id": "NCR-1", "lot": "L1", "supplier": "S-9", "qty": 4}
    done = app.service.start_run(admin, StartRequest("ncr-mini", first, "DE-STR"))
    second = {"ncr_id": "NCR-2", "lot": TRICKY, "supplier": "S-9"}
    cancelled = app.service.start_run(admin, StartRequest("ncr-mini", second, "US-GRR"))
    drain(app)  # both fail once
    clock.advance(timedelta(seconds=2))
    drain(app)  # the retries succeed
    clock.advance(timedelta(hours=2, seconds=1))
    drain(app)  # both MRBs escalate
    app.service.cancel(admin, cancelled, "raised twice")
    qe = person(app, "u-qe", "QE")
    app.service.decide_task(qe, TaskDecision(f"{done}:mrb:1", role="QE", comment="ok"))
    drain(app)
    app.service.send_event(admin, "supplier.answered", "NCR-1", {"ok": True}, event_id="a1")
    clock.advance(timedelta(days=1))
    later = app.service.start_run(admin, StartRequest("note", {"lot": "L1"}, "DE-STR"))
    drain(app)
    clock.advance(timedelta(seconds=2))
    drain(app)
    return {"done": done, "cancelled": cancelled, "later": later}


def expected(app: bootstrap.App, run_ids: list[str]) -> tuple[int, set[str]]:
    """Events and object ids of ``run_ids``, counted from the journal as the store gives it."""
    events, objects = 0, set()
    with tenant_reader(app) as reader:
        for run_id in run_ids:
            row = reader.run(run_id)
            assert row is not None
            objects.add(f"run:{run_id}")
            events += row.status == "completed"  # the run's end is an event of its own
            for fact in reader.journal(run_id):
                retry = fact.type == "TimerFired" and str(fact.body["key"]).startswith("retry:")
                events += fact.type in SHOWN and not retry
                if fact.type == "RunStarted":
                    given: Any = fact.body["input"]
                    for field in ("ncr_id", "lot", "supplier"):
                        if field in given:
                            kind = "ncr" if field == "ncr_id" else field
                            objects.add(f"{kind}:{given[field]}")
                output: Any = fact.body.get("output")
                if isinstance(output, dict) and "po" in output:
                    objects.add(f"purchase_order:{output['po']}")
    return events, objects


def ocel(app: bootstrap.App, scope: Scope) -> dict[str, Any]:
    buffer = io.StringIO()
    write_ocel(app.service.store, scope, buffer)
    parsed: dict[str, Any] = json.loads(buffer.getvalue())
    return parsed


def test_ocel_has_every_event_object_and_relation_the_journal_implies(
    app: bootstrap.App, runs: dict[str, str]
) -> None:
    buffer = io.StringIO()
    written = write_ocel(app.service.store, Scope("default"), buffer)
    log = json.loads(buffer.getvalue())
    events, objects = expected(app, list(runs.values()))

    assert list(log) == ["objectTypes", "eventTypes", "objects", "events"]
    assert (written.cases, written.events, written.objects) == (3, events, len(objects))
    assert len(log["events"]) == events and {o["id"] for o in log["objects"]} == objects
    assert len({e["id"] for e in log["events"]}) == events
    declared = {t["name"]: {a["name"] for a in t["attributes"]} for t in log["eventTypes"]}
    for event in log["events"]:
        assert {a["name"] for a in event["attributes"]} <= declared[event["type"]]
        assert {r["objectId"] for r in event["relationships"]} <= objects
        case = {"objectId": f"run:{event['id'].split(':')[0]}", "qualifier": "case"}
        assert case in event["relationships"]
    kinds = {t["name"]: {a["name"]: a["type"] for a in t["attributes"]} for t in log["objectTypes"]}
    assert kinds["ncr"] == {"qty": "integer"} and kinds["run"]["template_version"] == "integer"
    assert sum(len(e["relationships"]) for e in log["events"]) == written.relations

    names = [e["type"] for e in log["events"] if e["id"].startswith(runs["done"])]
    assert names == [
        "ncr-mini: started",
        "ncr-mini: contain failed",
        "ncr-mini: contain done",
        "ncr-mini: mrb escalated",
        "ncr-mini: mrb decided approve",
        "ncr-mini: order done",
        "ncr-mini: await_answer received supplier.answered",
        "ncr-mini: ended closed",
    ]
    links = {
        o["id"]: {(r["objectId"], r["qualifier"]) for r in o["relationships"]}
        for o in log["objects"]
    }
    assert {("purchase_order:PO-<7>&1", "order.po"), ("lot:L1", "lot")} <= links["ncr:NCR-1"]
    assert links[f"run:{runs['done']}"] == {("ncr:NCR-1", "handles")}
    assert f"lot:{TRICKY}" in links  # JSON escapes what XML 1.0 cannot hold
    assert all(e["time"].endswith("+00:00") for e in log["events"])

    again = io.StringIO()
    write_ocel(app.service.store, Scope("default"), again)
    assert again.getvalue() == buffer.getvalue()  # deterministic


def test_xes_has_one_trace_per_run_and_survives_markup_in_values(
    app: bootstrap.App, runs: dict[str, str]
) -> None:
    buffer = io.StringIO()
    written = write_xes(app.service.store, Scope("default"), buffer)
    root = ET.fromstring(buffer.getvalue().encode())  # well-formed, or this raises
    events, _ = expected(app, list(runs.values()))

    traces = {_value(t, "concept:name"): t for t in root.findall(f"{XES}trace")}
    assert (written.cases, written.events) == (3, events)
    # Oldest run first; runs started at the same time by id.
    assert list(traces) == [*sorted([runs["done"], runs["cancelled"]]), runs["later"]]
    assert sum(len(t.findall(f"{XES}event")) for t in traces.values()) == events
    cancelled, done = traces[runs["cancelled"]], traces[runs["done"]]
    assert _value(cancelled, "lot") == TRICKY.replace("\x01", "\ufffd")
    assert _value(cancelled, "status") == "cancelled"
    first = cancelled.findall(f"{XES}event")[0]
    required = {"concept:name", "time:timestamp", "lifecycle:transition", "org:resource"}
    assert {c.get("key") for c in first} >= required
    lifecycles = {_value(e, "concept:name"): _value(e, "lifecycle:transition") for e in done}
    assert lifecycles["ncr-mini: contain failed"] == "ate_abort"
    assert lifecycles["ncr-mini: contain done"] == "complete"
    order = [e for e in done.findall(f"{XES}event") if _value(e, "step") == "order"]
    assert _value(order[0], "purchase_order") == "PO-<7>&1"
    assert escape('a<b>&"c"\x00\ud800') == "a&lt;b&gt;&amp;&quot;c&quot;\ufffd\ufffd"


def test_scope_selects_template_time_window_and_readable_plants(
    app: bootstrap.App, runs: dict[str, str], clock: ManualClock
) -> None:
    def cases(scope: Scope) -> list[str]:
        return [o["id"][4:] for o in ocel(app, scope)["objects"] if o["type"] == "run"]

    day = clock.now().timestamp() - 3600  # between the NCRs and the later run
    assert cases(Scope("default", template="note")) == [runs["later"]]
    assert sorted(cases(Scope("default", until=day))) == sorted([runs["done"], runs["cancelled"]])
    assert cases(Scope("default", since=day)) == [runs["later"]]
    assert cases(Scope("elsewhere")) == []

    local = scope_for(person(app, "u-de", "QE@DE-STR"))
    assert local.plants == frozenset({"DE-STR"})
    assert sorted(cases(local)) == sorted([runs["done"], runs["later"]])
    with pytest.raises(GovernanceError):
        scope_for(person(app, "u-none"))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cli_writes_stdout_or_a_file_gzip_by_suffix(
    app: bootstrap.App, runs: dict[str, str], tmp_path: Path
) -> None:
    env = {"ANDON_DATABASE_URL": app.service.store.describe()}
    runner = CliRunner()
    shown = runner.invoke(cli, ["export", "xes", "--template", "note"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("<?xml") and runs["later"] in shown.stdout

    target = tmp_path / "ncr.jsonocel.gz"
    window = ["--since", "2026-11-01", "--until", "2026-11-02T08:00:00Z"]
    made = runner.invoke(cli, ["export", "ocel", "--out", str(target), *window], env=env)
    assert made.exit_code == 0, made.output
    assert "exported 2 runs" in made.stderr
    log = json.loads(gzip.decompress(target.read_bytes()))
    assert len([o for o in log["objects"] if o["type"] == "run"]) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    bad = runner.invoke(cli, ["export", "ocel", "--since", "yesterday"], env=env)
    assert bad.exit_code == 2 and "not an ISO 8601" in bad.stderr


def _value(element: ET.Element, key: str) -> str | None:
    for child in element:
        if child.get("key") == key:
            return child.get("value")
    return None
