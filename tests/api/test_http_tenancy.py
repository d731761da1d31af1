"""Tenant isolation over HTTP: for every endpoint of the served spec, tenant B's most
powerful token addressing tenant A's objects gets 404/403 (or acts in B's own namespace),
and nothing of A changes. An endpoint added without a case here fails the first test."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from api_support import token_for
from fastapi.testclient import TestClient
from httpx import Response

from andon import bootstrap
from andon.analytics import Analytics, Window
from andon.api.app import create_api
from andon.governance import authz
from andon.runtime.hooks import EventMapping
from andon.runtime.service import StartRequest
from andon.runtime.tokens import LOGIN_REFUSED
from andon.testing import accept_any, publish
from andon.webhooks import signing

FLOW = """
id: flow
version: 1
roles: [QE]
steps:
  - {id: review, kind: approval, roles: [QE]}
  - {id: done, kind: end, outcome: closed}
"""
B = "acme-b"
A_ONLY = "lab.a_only_event"
A_MES = "10.20.0.0/16"
SECRET = "whsec_" + base64.b64encode(b"a secret that is long enough....").decode()


@dataclass
class World:
    app: bootstrap.App
    http: TestClient
    b: dict[str, str]
    run_a: str
    task_a: str
    token_a: str
    letter_a: str


@pytest.fixture
def world(app: bootstrap.App) -> Iterator[World]:
    admin = app.actor()
    publish(app.service, admin, FLOW)
    app.directory.create_user(admin, "anna", "Anna")
    app.directory.grant(admin, "anna", "QE")
    run_a = app.service.start_run(admin, StartRequest("flow", {}))
    token_a = app.tokens.issue(admin, "anna", "anna").token_id
    app.hooks.add_source(admin, "qms", scheme=signing.STANDARD, secret=SECRET,
                         mapping=EventMapping(type="'a.b'", key="event.k"), acting_user="anna")  # fmt: skip
    app.directory.create_tenant(B, "Other")
    b_admin = app.actor(f"admin@{B}", B)
    app.directory.create_user(b_admin, "mallory", "Mallory")
    for role in (authz.TENANT_ADMIN, authz.PROCESS_OWNER, authz.OPERATOR, authz.AUDITOR, "QE"):
        app.directory.grant(b_admin, "mallory", role)
    accept_any(app.service, admin, "a.b")
    accept_any(app.service, app.actor("mallory", B), "a.b")
    app.service.register_contract(admin, A_ONLY, {"type": "object"})
    letter_a = app.service.keep_dead_letter(admin, "nats:in", "mapping", "no type", "{}")
    app.egress_allow.allow(admin, A_MES, "the plant's MES")
    app.lifecycle.set_stages(admin, ["dev", "qa", "production"])
    app.lifecycle.put_in_force(admin, "flow", 1, "qa")
    with TestClient(create_api(app)) as http:
        mallory = token_for(app, "mallory", B)
        yield World(app, http, mallory, run_a, f"{run_a}:review:1", token_a, letter_a)


def a_state(w: World) -> object:
    admin = w.app.actor()
    runs = [(r.run_id, r.status, r.last_seq) for r in w.app.service.runs(admin)]
    tasks = [(t.task_id, t.status, t.claimed_by) for t in w.app.service.tasks(admin, None)]
    tokens = [(t.token_id, t.revoked_at) for t in w.app.tokens.list(admin)]
    admin_log = [(a.seq, a.hash) for a in w.app.directory.admin_log(admin)]
    letters = [(d.letter_id, d.resolved_at) for d in w.app.service.dead_letters(admin)]
    contract = w.app.service.contract(admin, A_ONLY).digest
    allowed = [(e.network, e.reason) for e in w.app.egress_allow.entries(admin)]
    rollout = [(r.seq, r.stage, r.version) for r in w.app.lifecycle.versions(admin, "flow").history]
    stages = w.app.lifecycle.stages(admin)
    return runs, tasks, tokens, admin_log, letters, contract, allowed, rollout, stages


def hidden(response: Response) -> None:
    assert response.status_code in (403, 404), response.text


def _refused_sign_in(response: Response) -> None:
    """Refused like any wrong password: nothing tells that anna exists elsewhere."""
    assert response.status_code == 401, response.text
    assert response.json()["detail"] == LOGIN_REFUSED


def ours(response: Response) -> None:
    """Acted in B's own namespace (A unaffected, which the state check shows)."""
    assert response.status_code < 500, response.text


CASES: dict[str, Callable[[World], None]] = {
    "POST /v1/runs": lambda w: hidden(w.http.post("/v1/runs", json={"template": "flow"}, headers=w.b)),
    "GET /v1/runs": lambda w: _not_listed(w, "/v1/runs", w.run_a),
    "GET /v1/runs/{run_id}": lambda w: hidden(w.http.get(f"/v1/runs/{w.run_a}", headers=w.b)),
    "POST /v1/runs/{run_id}/cancel": lambda w: hidden(
        w.http.post(f"/v1/runs/{w.run_a}/cancel", json={}, headers=w.b)),
    "POST /v1/runs/{run_id}/retry": lambda w: hidden(
        w.http.post(f"/v1/runs/{w.run_a}/retry", json={}, headers=w.b)),
    "GET /v1/tasks": lambda w: _not_listed(w, "/v1/tasks?mine=false&status=any", w.task_a),
    "GET /v1/tasks/{task_id}": lambda w: hidden(w.http.get(f"/v1/tasks/{w.task_a}", headers=w.b)),
    "POST /v1/tasks/{task_id}/claim": lambda w: hidden(
        w.http.post(f"/v1/tasks/{w.task_a}/claim", headers=w.b)),
    "POST /v1/tasks/{task_id}/release": lambda w: hidden(
        w.http.post(f"/v1/tasks/{w.task_a}/release", headers=w.b)),
    "GET /v1/templates/{template_id}/versions/{version}": lambda w: _b_sees_its_own(w),
    "GET /v1/templates/{template_id}/diff": lambda w: hidden(
        w.http.get("/v1/templates/flow/diff?from=1&to=2&semantic=1", headers=w.b)),
    "GET /v1/templates/{template_id}/overlays/{plant}/diff": lambda w: hidden(
        w.http.get("/v1/templates/flow/overlays/DE-STR/diff", headers=w.b)),
    "POST /v1/tasks/{task_id}/decision": lambda w: hidden(
        w.http.post(f"/v1/tasks/{w.task_a}/decision", json={}, headers=w.b)),
    "POST /v1/session": lambda w: _refused_sign_in(w.http.post(
        "/v1/session", json={"tenant": B, "user": "anna", "password": "guess"})),
    "GET /v1/tokens": lambda w: _not_listed(w, "/v1/tokens", w.token_a),
    "POST /v1/tokens": lambda w: hidden(
        w.http.post("/v1/tokens", json={"user": "anna", "name": "steal"}, headers=w.b)),
    "DELETE /v1/tokens/{token_id}": lambda w: hidden(
        w.http.delete(f"/v1/tokens/{w.token_a}", headers=w.b)),
    "POST /v1/templates/validate": lambda w: ours(
        w.http.post("/v1/templates/validate", json={"source": FLOW}, headers=w.b)),
    "GET /v1/templates": lambda w: _not_listed(w, "/v1/templates", "flow"),
    "POST /v1/templates": lambda w: ours(
        w.http.post("/v1/templates", json={"source": FLOW.replace("closed", "b_closed")}, headers=w.b)),
    "POST /v1/overlays": lambda w: hidden(w.http.post(
        "/v1/overlays", json={"source": "template: flow\nplant: X\nparameters: {}\n"}, headers=w.b)),
    "POST /v1/events": lambda w: _reaches_nothing(w.http.post(
        "/v1/events", json={"type": "a.b", "key": "k"}, headers=w.b)),
    "POST /v1/events/batch": lambda w: ours(w.http.post(
        "/v1/events/batch", json={"events": [{"type": "a.b", "key": "k"}]}, headers=w.b)),
    "GET /v1/audit/verify": lambda w: _audit_b_only(w),
    "GET /v1/contracts": lambda w: _not_listed(w, "/v1/contracts", A_ONLY),
    "POST /v1/contracts": lambda w: ours(w.http.post("/v1/contracts", json={
        "event_type": A_ONLY, "schema": {"type": "array"}}, headers=w.b)),
    "GET /v1/contracts/{event_type}": lambda w: hidden(
        w.http.get(f"/v1/contracts/{A_ONLY}", headers=w.b)),
    "GET /v1/dead-letters": lambda w: _not_listed(w, "/v1/dead-letters", w.letter_a),
    "GET /v1/dead-letters/{letter_id}": lambda w: hidden(
        w.http.get(f"/v1/dead-letters/{w.letter_a}", headers=w.b)),
    "POST /v1/dead-letters/{letter_id}/replay": lambda w: hidden(
        w.http.post(f"/v1/dead-letters/{w.letter_a}/replay", headers=w.b)),
    "POST /v1/dead-letters/{letter_id}/discard": lambda w: hidden(w.http.post(
        f"/v1/dead-letters/{w.letter_a}/discard", json={"why": "mine now"}, headers=w.b)),
    "POST /v1/inbox/replay": lambda w: hidden(w.http.post("/v1/inbox/replay", json={
        "template_id": "flow", "version": 1, "since": "2026-01-01T00:00:00Z",
        "until": "2027-01-01T00:00:00Z"}, headers=w.b)),
    "PUT /v1/webhook-sources/{source_id}/mapping": lambda w: hidden(w.http.put(
        "/v1/webhook-sources/qms/mapping", json={"type": "'a.b'", "key": "event.x"},
        headers=w.b)),
    "GET /v1/runs/{run_id}/evidence": lambda w: hidden(
        w.http.get(f"/v1/runs/{w.run_a}/evidence", headers=w.b)),
    "POST /v1/users": lambda w: _conflict(w.http.post(
        "/v1/users", json={"user_id": "anna", "name": "Impostor"}, headers=w.b)),
    "POST /v1/users/{user_id}/grants": lambda w: hidden(
        w.http.post("/v1/users/anna/grants", json={"role": "QE"}, headers=w.b)),
    "DELETE /v1/users/{user_id}/grants/{role}": lambda w: hidden(
        w.http.delete("/v1/users/anna/grants/QE", headers=w.b)),
    "POST /v1/hooks/{tenant_id}/{source_id}": lambda w: hidden(
        w.http.post(f"/v1/hooks/{B}/qms", content=b"{}", headers={"webhook-id": "x"})),
    "POST /v1/webhook-sources": lambda w: hidden(w.http.post("/v1/webhook-sources", json={
        "source_id": "qms2", "scheme": "standard-webhooks", "secret": SECRET,
        "mapping": {"type": "'a.b'", "key": "event.k"}, "acting_user": "anna"}, headers=w.b)),
    "POST /v1/webhook-sources/{source_id}/rotate": lambda w: hidden(w.http.post(
        "/v1/webhook-sources/qms/rotate", json={"secret": SECRET}, headers=w.b)),
    "POST /v1/webhook-subscriptions": lambda w: ours(w.http.post(
        "/v1/webhook-subscriptions", json={"url": "http://10.0.0.1/x", "event_types": ["*"],
                                           "secret": SECRET}, headers=w.b)),
    "DELETE /v1/webhook-subscriptions/{subscription_id}": lambda w: hidden(
        w.http.delete("/v1/webhook-subscriptions/any", headers=w.b)),
    "GET /v1/webhook-deliveries": lambda w: ours(w.http.get("/v1/webhook-deliveries", headers=w.b)),
    "POST /v1/webhook-deliveries/{delivery_id}/replay": lambda w: hidden(
        w.http.post("/v1/webhook-deliveries/any/replay", headers=w.b)),
    "GET /v1/webhook-deliveries/{delivery_id}/attempts": lambda w: hidden(
        w.http.get("/v1/webhook-deliveries/any/attempts", headers=w.b)),
    "GET /v1/egress-allow": lambda w: _not_listed(w, "/v1/egress-allow", A_MES),
    "PUT /v1/egress-allow": lambda w: ours(w.http.put(
        "/v1/egress-allow", json={"network": "10.99.0.0/16"}, headers=w.b)),
    "DELETE /v1/egress-allow": lambda w: hidden(
        w.http.delete("/v1/egress-allow", params={"network": A_MES}, headers=w.b)),
    "POST /v1/templates/{template_id}/promotions": lambda w: hidden(w.http.post(
        "/v1/templates/flow/promotions", json={"version": 1, "stage": "test"}, headers=w.b)),
    "POST /v1/templates/{template_id}/promotion-requests": lambda w: hidden(w.http.post(
        "/v1/templates/flow/promotion-requests",
        json={"version": 1, "stage": "production", "plants": ["DE-STR"]}, headers=w.b)),
    "POST /v1/templates/{template_id}/rollback": lambda w: hidden(w.http.post(
        "/v1/templates/flow/rollback", json={"stage": "dev"}, headers=w.b)),
    "POST /v1/templates/{template_id}/migrations": lambda w: hidden(w.http.post(
        "/v1/templates/flow/migrations", json={"from": 1, "to": 2, "runs": [w.run_a]},
        headers=w.b)),
    "POST /v1/templates/{template_id}/dry-runs": lambda w: hidden(w.http.post(
        "/v1/templates/flow/dry-runs", json={"version": 1}, headers=w.b)),
    "GET /v1/templates/{template_id}/versions": lambda w: hidden(
        w.http.get("/v1/templates/flow/versions", headers=w.b)),
    "GET /v1/stages": lambda w: _b_stages(w.http.get("/v1/stages", headers=w.b)),
    "PUT /v1/stages": lambda w: ours(
        w.http.put("/v1/stages", json={"stages": ["build", "live"]}, headers=w.b)),
    "GET /healthz": lambda w: ours(w.http.get("/healthz")),
    "GET /metrics": lambda w: _not_listed(w, "/metrics", 'tenant="default"'),
    "GET /v1/runs/{run_id}/measures": lambda w: hidden(
        w.http.get(f"/v1/runs/{w.run_a}/measures", headers=w.b)),
    "DELETE /v1/session": lambda w: _not_a_session(w.http.delete("/v1/session", headers=w.b)),
    "GET /v1/analytics/cycle-times": lambda w: _b_figures(w, "cycle-times", "total", 0),
    "GET /v1/analytics/approval-latency": lambda w: _b_figures(w, "approval-latency"),
    "GET /v1/analytics/bottlenecks": lambda w: _b_figures(w, "bottlenecks"),
    "GET /v1/analytics/trends": lambda w: _b_figures(w, "trends"),
    "GET /v1/analytics/incidents": lambda w: _b_figures(w, "incidents"),
}  # fmt: skip


def _b_stages(response: Response) -> None:
    assert response.json() == {
        "stages": ["dev", "test", "production"],
        "governed": ["production"],
    }, "not A's list"


def _not_a_session(response: Response) -> None:
    # Mallory's token is an API token: it cannot be ended this way, and it is B's anyway.
    assert response.status_code == 401 and "sessions only" in response.text


def _b_figures(w: World, kind: str, key: str = "", empty: object = None) -> None:
    """B's dashboards are empty while A's are not (A has a run started)."""
    url = f"/v1/analytics/{kind}"
    if kind == "trends":
        assert Analytics(w.app.service.store).trends(w.app.actor(), Window()), "A has a run"
    found = w.http.get(url, headers=w.b)
    assert found.status_code == 200, found.text
    assert (found.json()[key] if key else found.json()) == (empty if key else [])


def _b_sees_its_own(w: World) -> None:
    # B has no "flow": A's version 1 is not found for B.
    hidden(w.http.get("/v1/templates/flow/versions/1", headers=w.b))


def _not_listed(w: World, url: str, secret_id: str) -> None:
    response = w.http.get(url, headers=w.b)
    assert response.status_code == 200
    assert secret_id not in response.text


def _reaches_nothing(response: Response) -> None:
    assert response.status_code == 202 and response.json()["reached"] == 0


def _conflict(response: Response) -> None:
    assert response.status_code == 409 and "default" not in response.text


def _audit_b_only(w: World) -> None:
    report = w.http.get("/v1/audit/verify", headers=w.b).json()
    assert report["ok"] and report["runs"] == 0


def test_every_endpoint_has_an_isolation_case(app: bootstrap.App) -> None:
    spec = create_api(app).openapi()
    endpoints = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    missing = sorted(endpoints - set(CASES))
    assert not missing, f"endpoints without a tenant-isolation case: {missing}"
    stale = sorted(set(CASES) - endpoints)
    assert not stale, f"cases for endpoints the API does not serve: {stale}"


@pytest.mark.parametrize("endpoint", sorted(CASES))
def test_tenant_b_cannot_reach_tenant_a_over_http(world: World, endpoint: str) -> None:
    before = a_state(world)
    CASES[endpoint](world)
    assert a_state(world) == before
