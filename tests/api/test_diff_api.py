"""The diff endpoints over HTTP: the semantic diff of two versions as JSON (with its text),
the unified diff of their sources, the diff of a plant's overlays, and errors that name
what is missing or wrong."""

from __future__ import annotations

from pathlib import Path

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.testing import declare_events
from andon.tools.demo.actions import DemoActions

ROOT = Path(__file__).resolve().parents[2] / "templates"
NCR = (ROOT / "supplier-ncr.yaml").read_text()
NCR_2 = (
    NCR.replace("version: 1", "version: 2", 1)
    .replace("due_in: 5d", "due_in: 4d")
    .replace("    default: 3d\n", "    default: 2d\n")
)
DE_STR = (ROOT / "overlays" / "supplier-ncr.DE-STR.yaml").read_text()


def published(app: bootstrap.App, http: TestClient) -> dict[str, str]:
    admin = token_for(app)
    DemoActions(0, app.service.clock).register(app.actions)  # the actions NCR names
    declare_events(app.service, app.actor(), NCR)  # its event types, for publishing
    for source in (NCR, NCR_2):
        assert http.post("/v1/templates", json={"source": source}, headers=admin).status_code == 201
    assert http.post("/v1/overlays", json={"source": DE_STR}, headers=admin).status_code == 201
    return admin


def test_the_semantic_diff_is_json_with_steps_parameters_plants_and_text(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = published(app, http)
    query = {"from": 1, "to": 2, "semantic": 1}
    body = http.get("/v1/templates/supplier-ncr/diff", params=query, headers=admin).json()
    assert body["from"]["version"] == 1 and body["to"]["version"] == 2 and not body["empty"]
    [step] = body["steps"]
    assert step["key"] == "review_scar" and step["kind"] == "approval"
    assert step["changes"] == [
        {"field": "due_in", "status": "changed", "old": "5d", "new": "4d", "topic": "sla"}
    ]
    [param] = body["parameters"]
    assert param["key"] == "mrb_sla" and param["changes"][0]["new"] == "2d"
    # DE-STR does not set mrb_sla: its runs see the new default
    [plant] = body["plants"]
    assert plant["key"] == "DE-STR" and plant["changes"][0]["field"] == "mrb_sla"
    assert "  ~ review_scar (approval)\n      due_in: 5d → 4d\n" in body["text"]
    other = http.get(
        "/v1/templates/supplier-ncr/diff", params={**query, "plant": "US-GRR"}, headers=admin
    ).json()
    assert other["plants"] == [] and other["steps"] == body["steps"]
    same = {"from": 2, "to": 2, "semantic": "true"}
    assert http.get("/v1/templates/supplier-ncr/diff", params=same, headers=admin).json()["empty"]


def test_without_semantic_the_sources_are_diffed_line_by_line(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = published(app, http)
    got = http.get("/v1/templates/supplier-ncr/diff", params={"from": 1, "to": 2}, headers=admin)
    assert "-    due_in: 5d\n+    due_in: 4d\n" in got.json()["diff"]


def test_unknown_templates_versions_and_bad_parameters_are_problems(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = published(app, http)
    semantic = {"from": 1, "to": 3, "semantic": 1}
    missing = http.get("/v1/templates/supplier-ncr/diff", params=semantic, headers=admin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "no published template 'supplier-ncr@3'"
    nowhere = http.get("/v1/templates/nowhere/diff", params={**semantic, "to": 1}, headers=admin)
    assert nowhere.json()["detail"] == "no published template 'nowhere@1'"
    for bad in ({"from": 0, "to": 1}, {"from": "one", "to": 1}, {"to": 1},
                {"from": 1, "to": 2, "semantic": "maybe"}, {"from": 1, "to": 2, "plant": "de"}):  # fmt: skip
        refused = http.get("/v1/templates/supplier-ncr/diff", params=bad, headers=admin)
        assert refused.status_code == 422, bad
        assert refused.json()["type"] == "urn:andon:problem:invalid-request"


def test_a_plants_overlays_are_diffed_latest_two_or_by_digest(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = published(app, http)
    url = "/v1/templates/supplier-ncr/overlays/DE-STR/diff"
    first = http.get(url, headers=admin).json()
    assert first["from"] is None and {c["status"] for c in first["parameters"]} == {"added"}
    newer = DE_STR.replace('band_low: {amount: "1000"', 'band_low: {amount: "1200"')
    newer += "  mrb_sla: 5d\n"
    assert http.post("/v1/overlays", json={"source": newer}, headers=admin).status_code == 201
    latest = http.get(url, headers=admin).json()
    assert latest["from"] == first["to"] and latest["template"] == "supplier-ncr@2"
    assert [(c["field"], c["status"]) for c in latest["parameters"]] == [
        ("band_low", "changed"),
        ("mrb_sla", "added"),
    ]
    assert [c["field"] for c in latest["effective"]] == ["band_low", "mrb_sla"]
    assert latest["effective"][1]["old"] == "2d"  # the default of the latest version
    assert "  + mrb_sla: 5d\n" in latest["text"]
    back = http.get(
        url, params={"from": latest["to"][:8], "to": first["to"][:8]}, headers=admin
    ).json()
    assert [(c["field"], c["status"]) for c in back["parameters"]][1] == ("mrb_sla", "removed")
    unknown = http.get(url, params={"from": "abcdef", "to": first["to"]}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no overlay 'abcdef' published for supplier-ncr/DE-STR"
    one = http.get(url, params={"from": first["to"]}, headers=admin)
    assert one.status_code == 422 and "give both digests" in one.json()["detail"]
    assert http.get(url.replace("DE-STR", "FR-LYO"), headers=admin).status_code == 404
    assert http.get(url, params={"from": "xyz123", "to": "abc"}, headers=admin).status_code == 422
