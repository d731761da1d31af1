"""Dry run over HTTP (ADR 0033): the report of a candidate version with a stricter
threshold names the one lot it routes elsewhere; an operator may not ask; bad input is a
422 naming the field, an unknown version a 404; nothing is written."""

from __future__ import annotations

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.governance import authz
from andon.testing import publish

TRIAGE = """
id: triage
version: {version}
roles: [QE, QAM]
input:
  type: object
  required: [lot, defects]
  properties: {{lot: {{type: string}}, defects: {{type: integer}}}}
triggers: [{{event: lab.lot_graded, key: input.lot}}]
steps:
  - id: severity
    kind: decide
    rules:
      - {{id: minor, when: "input.defects < {limit}", then: {{band: minor}}, next: review}}
      - {{id: major, when: "true", then: {{band: major}}, next: mrb}}
  - {{id: review, kind: approval, roles: [QE], next: done}}
  - {{id: mrb, kind: approval, roles: [QAM], next: done}}
  - {{id: done, kind: end}}
"""
URL = "/v1/templates/triage/dry-runs"


def test_a_dry_run_reports_the_lot_a_stricter_threshold_sends_to_the_mrb(
    app: bootstrap.App,
) -> None:
    admin = app.actor()
    app.directory.create_user(admin, "olga", "Olga")
    app.directory.grant(admin, "olga", authz.OPERATOR)
    publish(app.service, admin, TRIAGE.format(version=1, limit=3))
    ungoverned = ["dev", "test", "production"]  # promotions here need no approval run
    app.lifecycle.set_stages(admin, ungoverned, governed=[])
    for stage in ("test", "production"):  # v1 in force: v2 published is not live
        app.lifecycle.put_in_force(admin, "triage", 1, stage)
    for defects in range(6):
        lot = f"L{defects}"
        app.service.send_event(admin, "lab.lot_graded", lot, {"lot": lot, "defects": defects},
                               event_id=f"g-{defects}")  # fmt: skip
    publish(app.service, admin, TRIAGE.format(version=2, limit=2))
    runs = len(app.service.runs(admin))
    with TestClient(create_api(app)) as http:
        root, olga = token_for(app), token_for(app, "olga")
        assert http.post(URL, json={"version": 2}, headers=olga).status_code == 403
        found = http.post(URL, json={"version": 2}, headers=root)
        assert found.status_code == 200, found.text
        report = found.json()
        assert (report["considered"], report["taken"], report["differing"]) == (6, 6, 1)
        assert report["text"].startswith("dry run of triage@2 against the version in force")
        (lot,) = report["differing_events"]
        assert lot["event_id"] == "g-2" and report["events"] is None  # only with every_event
        assert lot["baseline"]["path"] == ["severity", "review"]
        assert lot["candidate"]["path"] == ["severity", "mrb"]
        assert lot["differences"] == [
            "path: after severity, v1 goes review, v2 goes mrb",
            "decision severity: minor -> major",
        ]
        every = http.post(URL, json={"version": 2, "every_event": True}, headers=root).json()
        assert [e["event_id"] for e in every["events"]] == [f"g-{i}" for i in range(6)]
        window = {"version": 2, "since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}
        assert http.post(URL, json=window, headers=root).json()["considered"] == 0
        bad = http.post(URL, json={"version": 2, "last": 0}, headers=root)
        assert bad.status_code == 422 and "last" in bad.text
        naive = http.post(URL, json={"version": 2, "since": "2026-01-01T00:00:00"}, headers=root)
        assert naive.status_code == 422 and "since" in naive.text
        backwards = {**window, "until": "2019-01-01T00:00:00Z"}
        late = http.post(URL, json=backwards, headers=root)
        assert late.status_code == 422 and "must be after its start" in late.text
        missing = http.post(URL, json={"version": 9}, headers=root)
        assert missing.status_code == 404 and "triage@9" in missing.text
    assert len(app.service.runs(admin)) == runs
