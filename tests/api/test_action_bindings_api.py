"""POST /v1/templates refuses an action step whose action the API process does not
register (ADR 0030): a 422 problem naming the file, the line and the action."""

from __future__ import annotations

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap

FLOW = """\
id: buy
version: 1
steps:
  - id: budget
    kind: action
    action: purchase.check_budget
  - id: done
    kind: end
    outcome: ordered
"""


def test_an_unregistered_action_is_a_located_422(app: bootstrap.App, http: TestClient) -> None:
    admin = token_for(app)
    body = {"source": FLOW, "name": "buy.yaml"}

    refused = http.post("/v1/templates", json=body, headers=admin)

    problem = refused.json()
    assert refused.status_code == 422, problem
    assert problem["type"] == "urn:andon:problem:invalid-template"
    [where] = problem["path"]
    assert where.startswith(
        "buy.yaml:6 steps[0].action: no action named 'purchase.check_budget' is registered"
    )
    assert http.get("/v1/templates", headers=admin).json() == []

    app.actions.register("purchase.check_budget", lambda call: {"ok": True})
    published = http.post("/v1/templates", json=body, headers=admin)
    assert published.status_code == 201, published.json()
    assert published.json()["id"] == "buy"
