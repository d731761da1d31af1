"""The web UI's routes over a real SQLite database (FastAPI's test client, no browser):
sign-in, CSRF refusals, deciding in place (unsigned, signed, refused under segregation of
duties), tenant isolation, the template pages, and the API's OpenAPI left untouched."""

from __future__ import annotations

import re
from urllib.parse import quote

import ui_world
from fastapi.testclient import TestClient
from ui_world import PASSWORD, TENANT_B, World

from andon.api.app import create_api
from andon.governance import authz
from andon.runtime.service import Credentials, TaskDecision

HTMX = {"HX-Request": "true"}


def login(http: TestClient, user: str, tenant: str = "default") -> str:
    """Sign in through the form; return the session's CSRF token (from the page)."""
    form = http.get("/ui/login")
    nonce = _field(form.text, "csrf")
    done = http.post(
        "/ui/login",
        data={"tenant": tenant, "user": user, "password": PASSWORD, "csrf": nonce},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return _field(http.get("/ui/inbox").text, "csrf")


def decide(http: TestClient, task_id: str, csrf: str, **form: str) -> object:
    return http.post(
        f"/ui/tasks/{quote(task_id, safe='')}/decision",
        data={"csrf": csrf, **form},
        headers=HTMX,
    )


def task_of(world: World, run_id: str) -> str:
    app = world.app
    return next(t.task_id for t in app.service.tasks(app.actor()) if t.run_id == run_id)


def journal_types(world: World, run_id: str) -> list[str]:
    return [r.type for r in world.app.service.journal(world.app.actor(), run_id)]


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} field"
    return found.group(1)


def test_pages_need_a_session(client: TestClient, world: World) -> None:
    page = client.get("/ui/inbox", follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/ui/login?next=/ui/inbox")
    task = task_of(world, world.ncr_run)
    posted = client.post(f"/ui/tasks/{quote(task, safe='')}/decision", headers=HTMX)
    assert posted.status_code == 401 and posted.headers["HX-Redirect"] == "/ui/login"
    client.cookies.set("andon_session", "andon_0000_forged", path="/ui")
    forged = client.get("/ui/inbox")
    assert forged.status_code == 200 and "Sign in" in forged.text  # followed to the login form


def test_login_sets_a_strict_http_only_session_cookie(client: TestClient) -> None:
    form = client.get("/ui/login")
    assert "default-src 'none'" in form.headers["content-security-policy"]
    nonce = _field(form.text, "csrf")
    base = {"tenant": "default", "user": "u-qe", "csrf": nonce}
    wrong = client.post("/ui/login", data={**base, "password": "guess"}, follow_redirects=False)
    assert wrong.status_code == 403 and "Sign-in failed" in wrong.text
    assert "andon_session" not in wrong.headers.get("set-cookie", "")
    nonce = _field(wrong.text, "csrf")
    stale = {**base, "password": PASSWORD, "csrf": "not-the-cookie"}
    refused = client.post("/ui/login", data=stale, follow_redirects=False)
    assert refused.status_code == 403 and "expired or came from elsewhere" in refused.text
    nonce = _field(refused.text, "csrf")
    good = {**base, "password": PASSWORD, "csrf": nonce, "next": "https://evil.example/x"}
    done = client.post("/ui/login", data=good, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/ui/inbox")
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("andon_session="))
    for attribute in ("HttpOnly", "Path=/ui", "SameSite=strict", "Max-Age=28"):
        assert attribute in cookie
    assert "Quentin Engel" in client.get("/ui/inbox").text


def test_posts_without_the_token_or_from_elsewhere_are_refused(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "u-qe")
    task = task_of(world, world.ncr_run)
    url = f"/ui/tasks/{quote(task, safe='')}/decision"
    attempts = [
        ({}, {}),
        ({"csrf": "0" * 40}, {}),
        ({"csrf": csrf}, {"Origin": "http://evil.example"}),
        ({"csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for data, headers in attempts:
        refused = client.post(url, data=data, headers=headers)
        assert refused.status_code == 403, (data, headers)
        assert "Form refused" in refused.text
    assert "TaskCompleted" not in journal_types(world, world.ncr_run)
    assert client.post("/ui/logout", data={}).status_code == 403
    by_header = client.post(
        url, headers={**HTMX, "X-CSRF-Token": csrf, "Origin": "http://testserver"}
    )
    assert by_header.status_code == 200, by_header.text
    assert journal_types(world, world.ncr_run)[-1] == "TaskCompleted"


def test_an_unsigned_approval_is_recorded_in_place(client: TestClient, world: World) -> None:
    csrf = login(client, "u-qe")
    inbox = client.get("/ui/inbox").text
    assert "MRB disposition" in inbox and "scrap-mid" in inbox  # why: the matched row
    assert "Production review" not in inbox  # a PS task: not mine
    task = task_of(world, world.ncr_run)
    done = decide(client, task, csrf, outcome="approve", comment="scrap it")
    assert done.status_code == 200
    assert "Recorded: approve" in done.text and "waiting for the other approvers" in done.text
    assert '<article class="task' in done.text and "<html" not in done.text  # a fragment
    last = world.app.service.journal(world.app.actor(), world.ncr_run)[-1]
    assert (last.type, last.body["actor"], last.body["comment"]) == (
        "TaskCompleted", "u-qe", "scrap it",
    )  # fmt: skip


def test_a_signed_step_needs_the_password_and_shows_the_manifest(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "u-ps")
    task = task_of(world, world.batch_run)
    unsigned = decide(client, task, csrf, outcome="approve")
    assert unsigned.status_code == 403 and "needs an electronic signature (review)" in unsigned.text
    wrong = decide(client, task, csrf, outcome="approve", password="not it")
    assert wrong.status_code == 403
    dom = "task-" + re.sub(r"[^A-Za-z0-9_-]", "-", task)
    assert wrong.headers["HX-Retarget"] == f"#{dom}-sign-error"
    assert "re-authentication of &#39;u-ps&#39; failed" in wrong.text
    signed = decide(client, task, csrf, outcome="approve", password=PASSWORD, reason="BMR ok")
    assert signed.status_code == 200 and "with your e-signature" in signed.text
    run = client.get(f"/ui/runs/{world.batch_run}").text
    assert '<dd id="current-steps">qc_approval</dd>' in run
    assert 'class="step step-current" data-step="qc_approval"' in run
    assert "Paula Schmid" in run and "BMR ok" in run and "<dd>review</dd>" in run
    assert "Journal chain verified</span>: 3 rows, 1 signature checked" in run


def test_a_duties_refusal_names_the_rule(client: TestClient, world: World) -> None:
    app = world.app
    review = task_of(world, world.batch_run)
    app.service.decide_task(
        app.actor("u-ps"), TaskDecision(review, credentials=Credentials(PASSWORD))
    )
    qc = task_of(world, world.batch_run)
    app.service.decide_task(app.actor("u-qc"), TaskDecision(qc, credentials=Credentials(PASSWORD)))
    csrf = login(client, "u-ps")
    qa = task_of(world, world.batch_run)
    assert qa.endswith(":qa_review:1") and "QA review" in client.get("/ui/inbox").text
    refused = decide(client, qa, csrf, outcome="approve", password=PASSWORD)
    assert refused.status_code == 403
    assert "Refused under segregation of duties" in refused.text
    assert "<code>conflicting-roles</code>" in refused.text
    assert "u-ps acted as PS on step production_review" in refused.text
    assert journal_types(world, world.batch_run)[-1] == "PolicyViolated"
    run = client.get(f"/ui/runs/{world.batch_run}").text
    assert "Refused attempts" in run and "conflicting-roles" in run


def test_tenant_b_sees_nothing_of_tenant_a(client: TestClient, world: World) -> None:
    csrf = login(client, "u-b", TENANT_B)
    a_task = task_of(world, world.ncr_run)
    inbox = client.get("/ui/inbox").text
    assert world.b_run in inbox and world.ncr_run not in inbox and world.batch_run not in inbox
    runs = client.get("/ui/runs").text
    assert world.b_run in runs and world.ncr_run not in runs
    assert client.get(f"/ui/runs/{world.ncr_run}").status_code == 404
    assert client.get(f"/ui/tasks/{quote(a_task, safe='')}").status_code == 404
    before = journal_types(world, world.ncr_run)
    assert decide(client, a_task, csrf, outcome="approve").status_code == 404
    assert journal_types(world, world.ncr_run) == before
    catalogue = client.get("/ui/templates").text
    assert "tiny" in catalogue and "supplier-ncr" not in catalogue
    assert client.get("/ui/templates/supplier-ncr").status_code == 404
    assert client.get("/ui/templates/supplier-ncr/versions/1").status_code == 404


def test_a_decision_on_a_decided_task_says_so_with_409(client: TestClient, world: World) -> None:
    csrf = login(client, "u-b", TENANT_B)
    app = world.app
    task = next(t.task_id for t in app.service.tasks(app.actor(f"admin@{TENANT_B}", TENANT_B)))
    assert decide(client, task, csrf, outcome="approve").status_code == 200
    again = decide(client, task, csrf, outcome="reject")
    assert again.status_code == 409
    assert f"task {task} is closed" in again.text and '<article class="task' in again.text


def test_template_pages_show_versions_diff_and_plant_overlays(
    client: TestClient, world: World
) -> None:
    app = world.app
    admin = app.actor()
    app.directory.create_user(admin, "u-po", "Pia Owner", password=PASSWORD)
    app.directory.grant(admin, "u-po", authz.PROCESS_OWNER)
    source = (ui_world.ROOT / "templates" / "supplier-ncr.yaml").read_text()
    v2 = source.replace("version: 1", "version: 2").replace("due_in: 5d", "due_in: 4d")
    app.service.publish_template(app.actor("u-po"), v2, "v2")
    login(client, "u-po")
    catalogue = client.get("/ui/templates").text
    assert 'href="/ui/templates/supplier-ncr/versions/2"' in catalogue
    page = client.get("/ui/templates/supplier-ncr").text
    assert "<td>DE-STR</td>" in page and "band_mid" in page and "<svg" in page
    diff = client.get("/ui/templates/supplier-ncr/diff", params={"from": 1, "to": 2}).text
    assert "<del>-    due_in: 5d</del>" in diff and "<ins>+    due_in: 4d</ins>" in diff
    assert "<del>-version: 1</del>" in diff
    version = client.get("/ui/templates/supplier-ncr/versions/2").text
    assert "steps.disposition.output.roles" in version and "review_scar" in version


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    csrf = login(client, "u-qe")
    stolen = client.cookies.get("andon_session")
    assert stolen and client.get("/ui/dashboards").status_code == 200
    out = client.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
    assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
    assert 'andon_session=""' in out.headers["set-cookie"]
    assert client.get("/ui/inbox", follow_redirects=False).status_code == 303
    # A copy of the cookie taken before signing out no longer works either.
    client.cookies.set("andon_session", stolen, path="/ui")
    assert client.get("/ui/inbox", follow_redirects=False).status_code == 303
    api = client.get("/v1/tasks", headers={"Authorization": f"Bearer {stolen}"})
    assert api.status_code == 401


def test_the_api_signs_out_a_session_token_but_not_an_api_token(
    client: TestClient, world: World
) -> None:
    login_ = {"tenant": "default", "user": "u-qe", "password": PASSWORD}
    session = client.post("/v1/session", json=login_).json()["token"]
    bearer = {"Authorization": f"Bearer {session}"}
    assert client.get("/v1/tasks", headers=bearer).status_code == 200
    assert client.delete("/v1/session", headers=bearer).status_code == 204
    assert client.get("/v1/tasks", headers=bearer).status_code == 401
    assert client.delete("/v1/session", headers=bearer).status_code == 401
    app = world.app
    api_token = app.tokens.issue(app.actor(), "u-qe", "line terminal").token
    refused = client.delete("/v1/session", headers={"Authorization": f"Bearer {api_token}"})
    assert refused.status_code == 401 and "sessions only" in refused.text
    assert (
        client.get("/v1/tasks", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
    )


def test_the_ui_stays_out_of_the_openapi_document(client: TestClient, world: World) -> None:
    spec = create_api(world.app).openapi()
    assert not [p for p in spec["paths"] if p.startswith("/ui")]
    script = client.get("/ui/static/htmx-2.0.11.min.js")
    assert script.status_code == 200 and 'version:"2.0.11"' in script.text
