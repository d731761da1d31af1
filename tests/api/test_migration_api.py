"""Run migration over HTTP (ADR 0032): a dry run, then the batch, one result per run;
an operator may not migrate."""

from __future__ import annotations

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.governance import authz
from andon.runtime.service import StartRequest

FLOW = """
id: ncr
version: {version}
roles: [QE]
steps:
  - {{id: {review}, kind: approval, roles: [QE]}}
  - {{id: done, kind: end, outcome: closed}}
"""


def test_runs_move_over_http_with_a_result_per_run(app: bootstrap.App) -> None:
    admin = app.actor()
    app.directory.create_user(admin, "olga", "Olga")
    app.directory.grant(admin, "olga", authz.OPERATOR)
    app.service.publish_template(admin, FLOW.format(version=1, review="review"))
    app.service.publish_template(admin, FLOW.format(version=2, review="check"))
    run_id = app.service.start_run(admin, StartRequest("ncr", {}, version=1))
    url = "/v1/templates/ncr/migrations"
    body: dict[str, object] = {"from": 1, "to": 2, "map": {"review": "check"}}
    with TestClient(create_api(app)) as http:
        root, olga = token_for(app), token_for(app, "olga")
        assert http.post(url, json=body, headers=olga).status_code == 403
        dry = http.post(url, json={**body, "dry_run": True}, headers=root)
        assert dry.status_code == 200, dry.text
        assert dry.json() == [
            {
                "run_id": run_id,
                "outcome": "would-migrate",
                "reason": "",
                "moved": {"review": "check"},
            }
        ]
        done = http.post(url, json=body, headers=root).json()
        assert [(r["run_id"], r["outcome"]) for r in done] == [(run_id, "migrated")]
        again = http.post(url, json={**body, "runs": [run_id]}, headers=root).json()
        assert again[0]["reason"] == "the run is on version 2, not 1"
        typo = http.post(url, json={**body, "map": {"reviw": "check"}}, headers=root)
        assert typo.status_code == 422 and "no step 'reviw'" in typo.text
        run = http.get(f"/v1/runs/{run_id}", headers=root).json()
        assert run["template_version"] == 2
    assert app.service.journal(admin, run_id)[-1].type == "RunMigrated"
    assert app.auditor.verify("default").ok
