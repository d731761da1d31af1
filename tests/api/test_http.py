"""The HTTP API over a real SQLite database: the NCR flow, authentication from the
attacker's side, idempotent starts, paging, problem details and rate limits."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest
from andon.testing import accept_any, drain, ncr_input, publish

ROOT = Path(__file__).resolve().parents[2]
NCR = ncr_input()


def ok_actions(app: bootstrap.App) -> None:
    for name in ("qms.record_ncr", "erp.block_lot", "erp.execute_disposition",
                 "supplier.issue_scar", "notify.escalate"):  # fmt: skip
        app.actions.register(name, lambda call: {"done": call.idempotency_key})


def test_the_ncr_flow_driven_entirely_over_http(app: bootstrap.App, http: TestClient) -> None:
    ok_actions(app)
    admin = token_for(app)
    for event_type in ("quality.ncr_opened", "supplier.scar_response_received"):
        schema = json.loads((ROOT / "templates" / "contracts" / f"{event_type}.json").read_text())
        registered = http.post(
            "/v1/contracts", json={"event_type": event_type, "schema": schema}, headers=admin
        )
        assert registered.status_code == 201, registered.text
    source = (ROOT / "templates" / "supplier-ncr.yaml").read_text()
    assert http.post("/v1/templates", json={"source": source}, headers=admin).status_code == 201
    for user, role in (("u-qi", "QI"), ("u-qe", "QE"), ("u-ps", "PS"), ("u-sqe", "SQE")):
        made = http.post(
            "/v1/users", json={"user_id": user, "name": user.upper(), "roles": [role]},
            headers=admin,
        )  # fmt: skip
        assert made.status_code == 201, made.text
    started = http.post(
        "/v1/runs", json={"template": "supplier-ncr", "input": NCR},
        headers={**token_for(app, "u-qi"), "Idempotency-Key": "ncr-871"},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]
    drain(app)

    for user in ("u-qe", "u-ps"):
        headers = token_for(app, user)
        inbox = http.get("/v1/tasks", headers=headers).json()
        assert [t["step"] for t in inbox] == ["mrb"]
        decided = http.post(f"/v1/tasks/{inbox[0]['task_id']}/decision", json={}, headers=headers)
        assert decided.status_code == 200, decided.text
    assert http.get("/v1/tasks", headers=token_for(app, "u-qe")).json() == []
    drain(app)
    sent = http.post(
        "/v1/events",
        json={"type": "supplier.scar_response_received", "key": NCR["ncr_id"],
              "data": {"ncr_id": NCR["ncr_id"], "supplier": NCR["supplier"], "report": "8D",
                       "root_cause": "porosity"}, "id": "scar-1", "source": "portal"},
        headers=admin,
    )  # fmt: skip
    assert sent.status_code == 202 and sent.json()["reached"] == 1
    sqe = token_for(app, "u-sqe")
    review = http.get("/v1/tasks", headers=sqe).json()[0]["task_id"]
    assert http.post(f"/v1/tasks/{review}/decision", json={}, headers=sqe).status_code == 200
    run = http.get(f"/v1/runs/{run_id}", headers=admin).json()
    assert (run["status"], run["outcome"]) == ("completed", "closed")
    assert [f["type"] for f in run["journal"]][:3] == [
        "RunStarted",
        "StepSucceeded",
        "StepSucceeded",
    ]


def test_the_same_idempotency_key_starts_one_run(app: bootstrap.App, http: TestClient) -> None:
    admin = token_for(app)
    flow = "id: tiny\nversion: 1\nsteps:\n  - {id: wait, kind: timer, duration: 1h}\n"
    http.post("/v1/templates", json={"source": flow}, headers=admin)
    headers = {**admin, "Idempotency-Key": "order-77"}
    first = http.post("/v1/runs", json={"template": "tiny"}, headers=headers)
    again = http.post("/v1/runs", json={"template": "tiny"}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["run_id"] == again.json()["run_id"]
    assert again.json()["created"] is False
    other = http.post("/v1/runs", json={"template": "tiny"}, headers=admin)
    assert other.json()["run_id"] != first.json()["run_id"]
    assert len(http.get("/v1/runs", headers=admin).json()["items"]) == 2


def test_runs_are_paged_with_a_cursor(
    app: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    admin = token_for(app)
    flow = "id: tiny\nversion: 1\nsteps:\n  - {id: wait, kind: timer, duration: 1h}\n"
    http.post("/v1/templates", json={"source": flow}, headers=admin)
    for _ in range(7):
        http.post("/v1/runs", json={"template": "tiny"}, headers=admin)
        clock.advance(timedelta(seconds=1))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/runs", params=params, headers=admin).json()
        seen += [r["run_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    bad = http.get("/v1/runs", params={"cursor": "!!"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["type"] == "urn:andon:problem:invalid-input"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ({}, "send 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer nonsense"}, "malformed token"),
        ({"Authorization": "Bearer andon_0000000000000000_forged"}, "unknown token"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "send 'Authorization: Bearer <token>'"),
    ],
)
def test_requests_without_a_valid_token_get_401(
    http: TestClient, header: dict[str, str], detail: str
) -> None:
    response = http.get("/v1/runs", headers=header)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert (body["type"], body["status"], body["detail"]) == (
        "urn:andon:problem:unauthenticated", 401, detail,
    )  # fmt: skip


def test_a_tampered_secret_revoked_or_expired_token_is_refused(
    app: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    header = token_for(app)
    assert http.get("/v1/runs", headers=header).status_code == 200
    token = header["Authorization"]
    tampered = {"Authorization": token[:-1] + ("A" if token[-1] != "A" else "B")}
    assert http.get("/v1/runs", headers=tampered).json()["detail"] == "unknown token"
    token_id = token.split("_")[1]
    assert http.delete(f"/v1/tokens/{token_id}", headers=token_for(app)).status_code == 204
    assert http.get("/v1/runs", headers=header).json()["detail"] == "the token was revoked"
    fresh = token_for(app)
    clock.advance(timedelta(days=91))
    assert http.get("/v1/runs", headers=fresh).json()["detail"] == "the token has expired"


def test_a_token_is_narrowed_to_its_roles_and_sites(app: bootstrap.App, http: TestClient) -> None:
    admin = app.actor()
    app.directory.create_site(admin, "DE-STR", "Stuttgart")
    app.directory.create_user(admin, "mes", "MES line 1")
    for role in ("operator", "auditor"):
        app.directory.grant(admin, "mes", role)
    issued = app.tokens.issue(admin, "mes", "MES", roles=["auditor"], sites=["DE-STR"])
    header = {"Authorization": f"Bearer {issued.token}"}
    refused = http.post("/v1/events", json={"type": "mes.x", "key": "k"}, headers=header)
    assert refused.status_code == 403 and "event.send" in refused.json()["detail"]


def test_login_gives_a_session_and_wrong_passwords_count(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = app.actor()
    app.directory.create_user(admin, "anna", "Anna Keller", password="anna's long password")
    app.directory.grant(admin, "anna", "QE")
    bad = http.post("/v1/session", json={"tenant": "default", "user": "anna", "password": "x"})
    assert bad.status_code == 401
    good = http.post(
        "/v1/session",
        json={"tenant": "default", "user": "anna", "password": "anna's long password"},
    )
    assert good.status_code == 201
    session = {"Authorization": f"Bearer {good.json()['token']}"}
    assert http.get("/v1/tasks", headers=session).status_code == 200
    unknown = http.post(
        "/v1/session", json={"tenant": "default", "user": "nobody", "password": "x"}
    )
    assert unknown.status_code == 401 and unknown.json() == bad.json()


def test_bad_input_gets_one_problem_shape_with_paths(app: bootstrap.App, http: TestClient) -> None:
    admin = token_for(app)
    broken = http.post(
        "/v1/runs", content=b'{"template": ', headers={**admin, "Content-Type": "application/json"}
    )
    assert broken.status_code == 422 and broken.json()["title"] == "Invalid request"
    extra = http.post("/v1/runs", json={"template": "x", "tenant_id": "other"}, headers=admin)
    assert extra.status_code == 422  # mass assignment: unknown fields are refused
    assert any("tenant_id" in p for p in extra.json()["path"])
    bad_template = http.post(
        "/v1/templates", json={"source": "id: Bad\nversion: 0\n"}, headers=admin
    )
    body = bad_template.json()
    assert bad_template.status_code == 422 and body["type"] == "urn:andon:problem:invalid-template"
    assert any("version" in p for p in body["path"])
    missing = http.get("/v1/runs/r-404", headers=admin)
    assert missing.status_code == 404 and missing.json()["detail"] == "no run 'r-404'"


def test_writes_beyond_the_rate_get_429_with_retry_after(app: bootstrap.App) -> None:
    accept_any(app.service, app.actor(), "a.b")
    with TestClient(create_api(app, writes_per_s=1, burst=2)) as client:
        header = token_for(app)
        codes = [
            client.post("/v1/events", json={"type": "a.b", "key": "k"}, headers=header).status_code
            for _ in range(4)
        ]
        assert codes[:2] == [202, 202] and codes[2:] == [429, 429]
        limited = client.post("/v1/events", json={"type": "a.b", "key": "k"}, headers=header)
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/v1/runs", headers=header).status_code == 200  # reads are not limited


def test_hostile_bodies_get_clear_errors_not_crashes(app: bootstrap.App, http: TestClient) -> None:
    headers = {**token_for(app), "content-type": "application/json"}
    accept_any(app.service, app.actor(), "a.b")

    def nested(depth: int) -> bytes:
        return (
            b'{"type": "a.b", "key": "k", "data": ' + b'{"a": ' * depth + b"{}" + b"}" * (depth + 1)
        )

    too_deep = http.post("/v1/events", content=nested(100), headers=headers)
    assert too_deep.status_code == 422 and "64 levels" in too_deep.json()["detail"]
    absurd = http.post("/v1/events", content=nested(100_000), headers=headers)
    assert absurd.status_code == 422
    not_utf8 = http.post("/v1/events", content=b'{"type": "a.b", "key": "\xff"}', headers=headers)
    assert not_utf8.status_code == 422
    assert http.post("/v1/events", content=nested(20), headers=headers).status_code == 202


def test_templates_can_be_read_and_diffed(app: bootstrap.App, http: TestClient) -> None:
    admin = token_for(app)
    v1 = "id: tiny\nversion: 1\nsteps:\n  - {id: wait, kind: timer, duration: 1h}\n"
    v2 = v1.replace("version: 1", "version: 2").replace("1h", "2h")
    for source in (v1, v2):
        assert http.post("/v1/templates", json={"source": source}, headers=admin).status_code == 201
    got = http.get("/v1/templates/tiny/versions/2", headers=admin).json()
    assert got["source"] == v2 and got["version"] == 2
    diff = http.get("/v1/templates/tiny/diff", params={"from": 1, "to": 2}, headers=admin).json()
    assert "-  - {id: wait, kind: timer, duration: 1h}" in diff["diff"]
    assert "+  - {id: wait, kind: timer, duration: 2h}" in diff["diff"]
    assert http.get("/v1/templates/tiny/versions/3", headers=admin).status_code == 404


def test_a_claimed_task_is_released_only_by_its_claimant(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = app.actor()
    publish(
        app.service,
        admin,
        "id: r\nversion: 1\nroles: [QE]\nsteps:\n  - {id: check, kind: approval, roles: [QE]}\n",
    )
    for user in ("qe1", "qe2"):
        app.directory.create_user(admin, user, user)
        app.directory.grant(admin, user, "QE")
    run_id = app.service.start_run(admin, StartRequest("r", {}))
    task = f"{run_id}:check:1"
    one, two = token_for(app, "qe1"), token_for(app, "qe2")
    assert http.post(f"/v1/tasks/{task}/claim", headers=one).json()["claimed_by"] == "qe1"
    refused = http.post(f"/v1/tasks/{task}/release", headers=two)
    assert refused.status_code == 409, refused.text
    released = http.post(f"/v1/tasks/{task}/release", headers=one)
    assert released.status_code == 200 and released.json()["claimed_by"] is None
    kinds = [f.type for f in app.service.journal(admin, run_id)]
    assert kinds[-2:] == ["TaskClaimed", "TaskReleased"]
