"""The dashboards' figures over HTTP, on both backends: a run decided after a known wait
and completed gives known numbers; windows, plants and limits narrow them; a token held
at one site sees that site only; bad windows are refused with the parameter named."""

from __future__ import annotations

from datetime import timedelta

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.runtime.clock import ManualClock
from andon.runtime.service import StartRequest, TaskDecision
from andon.testing import publish

FLOW = """
id: review-flow
version: 1
roles: [QE]
steps:
  - {id: review, kind: approval, roles: [QE], due_in: 1h}
  - {id: done, kind: end, outcome: closed}
"""


def two_runs(app: bootstrap.App, clock: ManualClock) -> None:
    """At DE-STR a review decided after 3 h (the SLA of 1 h breached); at US-GRR one still open."""
    admin = app.actor()
    publish(app.service, admin, FLOW)
    for site in ("DE-STR", "US-GRR"):
        app.directory.create_site(admin, site, site)
    app.directory.create_user(admin, "anna", "Anna")
    app.directory.grant(admin, "anna", "QE", "DE-STR")
    app.directory.create_user(admin, "gus", "Gus")
    app.directory.grant(admin, "gus", "QE", "US-GRR")
    de = app.service.start_run(admin, StartRequest("review-flow", {}, "DE-STR"))
    app.service.start_run(admin, StartRequest("review-flow", {}, "US-GRR"))
    clock.advance(timedelta(hours=3))
    worker = app.worker()
    try:
        while worker.run_once():  # the SLA timers fire
            pass
        app.service.decide_task(app.actor("anna"), TaskDecision(f"{de}:review:1"))
        while worker.run_once():
            pass
    finally:
        worker.close()
    assert app.service.run(admin, de).status == "completed"


def test_the_figures_match_what_happened(
    app: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    start = clock.now()
    two_runs(app, clock)
    admin = token_for(app)
    cycle = http.get("/v1/analytics/cycle-times", headers=admin).json()
    assert cycle["total"] == 1 and cycle["p50_h"] == 3.0
    assert cycle["upper_bounds_h"][-1] is None and cycle["counts"][1] == 1  # in (1 h, 4 h]
    latency = http.get("/v1/analytics/approval-latency", headers=admin).json()
    assert latency == [{"role": "QE", "plant": "DE-STR", "decided": 1,
                        "p50_s": 10_800.0, "p90_s": 10_800.0}]  # fmt: skip
    steps = http.get("/v1/analytics/bottlenecks", headers=admin).json()
    assert steps[0]["step"] == "review" and steps[0]["count"] == 1
    days = http.get("/v1/analytics/trends", headers=admin).json()
    assert [(d["started"], d["completed"], d["sla_breaches"]) for d in days] == [(2, 1, 2)]
    assert days[0]["bucket_start"] == start.replace(hour=0).timestamp()
    assert http.get("/v1/analytics/incidents", headers=admin).json() == []

    later = {"since": start.timestamp() + 86_400}
    assert http.get("/v1/analytics/cycle-times", params=later, headers=admin).json()["total"] == 0
    grr = http.get("/v1/analytics/trends", params={"plant": "US-GRR"}, headers=admin).json()
    assert [(d["started"], d["completed"]) for d in grr] == [(1, 0)]


def test_a_site_token_sees_its_site_and_is_refused_another(
    app: bootstrap.App, http: TestClient, clock: ManualClock
) -> None:
    two_runs(app, clock)
    gus = token_for(app, "gus")
    mine = http.get("/v1/analytics/trends", headers=gus).json()
    assert [(d["started"], d["completed"]) for d in mine] == [(1, 0)]  # US-GRR's run only
    assert http.get("/v1/analytics/approval-latency", headers=gus).json() == []
    other = http.get("/v1/analytics/cycle-times", params={"plant": "DE-STR"}, headers=gus)
    assert other.status_code == 403
    assert http.get("/v1/analytics/cycle-times").status_code == 401


def test_bad_windows_are_refused_with_the_parameter_named(
    app: bootstrap.App, http: TestClient
) -> None:
    admin = token_for(app)
    for params in ({"since": "nan"}, {"until": "-5"}, {"since": "1e300"}, {"limit": "0"}):
        url = "/v1/analytics/bottlenecks"
        answer = http.get(url, params=params, headers=admin)
        assert answer.status_code == 422, (params, answer.text)
        assert next(iter(params)) in answer.text
    tiny = http.get("/v1/analytics/trends", params={"bucket_s": 30}, headers=admin)
    assert tiny.status_code == 422 and "bucket_s" in tiny.text
