"""Rollout over HTTP: promote a version for a pilot plant, read what is in force where,
start at a stage, roll the plant back; people who may not promote get 403, nothing kept."""

from __future__ import annotations

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.governance import authz

FLOW = """
id: ncr
version: {version}
roles: [QE]
steps:
  - {{id: review, kind: approval, roles: [QE]}}
  - {{id: done, kind: end, outcome: closed}}
"""


def test_a_pilot_rollout_and_its_rollback_over_http(app: bootstrap.App) -> None:
    admin = app.actor()
    app.directory.create_site(admin, "P1", "Plant 1")
    app.directory.create_user(admin, "olga", "Olga")
    app.directory.grant(admin, "olga", authz.OPERATOR)
    app.service.publish_template(admin, FLOW.format(version=1))
    with TestClient(create_api(app)) as http:
        root, olga = token_for(app), token_for(app, "olga")
        url = "/v1/templates/ncr/promotions"
        governed = http.post(url, json={"version": 1, "stage": "production"}, headers=root)
        assert governed.status_code == 409 and "stage 'production' is governed" in governed.text
        stages = {"stages": ["dev", "test", "production"], "governed": []}
        assert http.put("/v1/stages", json=stages, headers=root).json() == stages
        for stage in ("test", "production"):
            done = http.post(url, json={"version": 1, "stage": stage}, headers=root)
            assert done.status_code == 201, done.text
        app.service.publish_template(admin, FLOW.format(version=2))
        early = http.post(url, json={"version": 2, "stage": "production"}, headers=root)
        assert early.status_code == 409 and "promote it to 'test'" in early.text
        wrong = http.post(url, json={"version": 2, "stage": "prod"}, headers=root)
        assert wrong.status_code == 422 and "dev, test, production" in wrong.text
        pilot = {"version": 2, "stage": "test", "reason": "lab ok"}
        assert http.post(url, json=pilot, headers=olga).status_code == 403
        assert http.post(url, json=pilot, headers=root).status_code == 201
        pilot = {"version": 2, "stage": "production", "plants": ["P1"]}
        added = http.post(url, json=pilot, headers=root).json()
        assert [(r["plant"], r["version"], r["act"]) for r in added] == [("P1", 2, "promoted")]

        view = http.get("/v1/templates/ncr/versions", headers=olga).json()
        assert view["managed"] and view["stages"] == ["dev", "test", "production"]
        assert {(f["stage"], f["plant"], f["version"]) for f in view["in_force"]} == {
            ("dev", "", 2), ("test", "", 2), ("production", "", 1), ("production", "P1", 2),
        }  # fmt: skip

        def start(**body: object) -> int:
            got = http.post("/v1/runs", json={"template": "ncr", **body}, headers=root)
            assert got.status_code == 201, got.text
            run = http.get(f"/v1/runs/{got.json()['run_id']}", headers=root).json()
            return int(run["template_version"])

        assert (start(plant="P1"), start(plant=""), start(stage="dev")) == (2, 1, 2)
        back = http.post("/v1/templates/ncr/rollback", json={"plant": "P1"}, headers=root)
        assert back.status_code == 201 and back.json()["version"] is None
        assert start(plant="P1") == 1
        none = http.post("/v1/templates/ncr/rollback", json={"plant": "P1"}, headers=root)
        assert none.status_code == 409
        assert http.get("/v1/templates/none/versions", headers=root).status_code == 404
        assert http.get("/v1/stages", headers=olga).json() == {
            "stages": ["dev", "test", "production"],
            "governed": [],
        }
        assert http.put("/v1/stages", json={"stages": ["a"]}, headers=olga).status_code == 403
    assert app.auditor.verify("default").ok


def test_a_governed_promotion_is_requested_over_http_and_changes_nothing_until_approved(
    app: bootstrap.App,
) -> None:
    admin = app.actor()
    app.directory.create_site(admin, "P1", "Plant 1")
    app.directory.create_user(admin, "rita", "Rita")
    app.directory.grant(admin, "rita", authz.PROCESS_OWNER)
    app.directory.create_user(admin, "olga", "Olga")
    app.directory.grant(admin, "olga", authz.OPERATOR)
    app.service.publish_template(admin, FLOW.format(version=1))
    with TestClient(create_api(app)) as http:
        rita, olga = token_for(app, "rita"), token_for(app, "olga")
        assert http.post("/v1/templates/ncr/promotions", json={"version": 1, "stage": "test"},
                         headers=rita).status_code == 201  # fmt: skip
        url = "/v1/templates/ncr/promotion-requests"
        body = {"version": 1, "stage": "production", "plants": ["P1"], "reason": "pilot"}
        assert http.post(url, json=body, headers=olga).status_code == 403
        early = http.post(url, json={**body, "version": 9}, headers=rita)
        assert early.status_code == 404 and "ncr@9" in early.text
        wrong = http.post(url, json={**body, "dry_run_events": 9000}, headers=rita)
        assert wrong.status_code == 422
        asked = http.post(url, json=body, headers=rita)
        assert asked.status_code == 202, asked.text
        run = http.get(f"/v1/runs/{asked.json()['run_id']}", headers=rita).json()
        assert run["template_id"] == "template-promotion" and run["status"] == "running"
        assert run["plant"] == "P1"
        view = http.get("/v1/templates/ncr/versions", headers=rita).json()
        assert not view["managed"], "nothing is in force at production before the approvals"
        forged = {"template": "template-promotion", "input": {"template_id": "ncr"}}
        refused = http.post("/v1/runs", json=forged, headers=rita)
        assert refused.status_code == 403 and "promotion request" in refused.text
        ungoverned = http.post(url, json={**body, "stage": "test"}, headers=rita)
        assert ungoverned.status_code == 422 and "not governed" in ungoverned.text
