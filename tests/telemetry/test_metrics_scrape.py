"""``/metrics`` scraped over HTTP after the plant demo: the counters are non-zero and equal
to what the store holds, counted here independently (journal traces parsed in Python)."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from sqlalchemy import text

from andon import bootstrap
from andon.api.app import create_api
from andon.config import Settings, StoreSettings
from andon.observability.settings import TelemetrySettings, token_digest
from andon.runtime.clock import ManualClock
from andon.tools.demo import DemoResult, run_demo

pytestmark = pytest.mark.slow
SCRAPER = "prometheus-scrape-token-0123456789abcdef"
OTHER = "acme-b"
NOW = datetime(2027, 1, 1, tzinfo=UTC)
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Scraped:
    app: bootstrap.App
    http: TestClient
    demo: DemoResult


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    folder = tmp_path_factory.mktemp("demo")
    settings = Settings(store=StoreSettings(f"sqlite:///{folder / 'andon.db'}"))
    quiet = Console(file=io.StringIO(), width=120)
    demo = run_demo(settings, 1, quiet, quiet)
    telemetry = TelemetrySettings(metrics_token_sha256=token_digest(SCRAPER), metrics_cache_s=0)
    app = bootstrap.build(settings, clock=ManualClock(NOW), telemetry=telemetry)
    app.directory.create_tenant(OTHER, "Other")
    with TestClient(create_api(app)) as http:
        yield Scraped(app, http, demo)
    app.close()


def scrape(http: TestClient, token: str) -> tuple[str, Series]:
    response = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    series: Series = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            series[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, series


def total(series: Series, name: str, **where: str) -> float:
    return sum(
        value
        for (found, labels), value in series.items()
        if found == name and all(dict(labels).get(k) == v for k, v in where.items())
    )


def by(series: Series, name: str, *keys: str) -> dict[tuple[str, ...], float]:
    out: Counter[tuple[str, ...]] = Counter()
    for (found, labels), value in series.items():
        if found == name and value:
            out[tuple(dict(labels)[k] for k in keys)] += value
    return dict(out)


def sql(app: bootstrap.App, query: str) -> list[tuple[object, ...]]:
    with app.service.store.reader() as reader:
        return [tuple(row) for row in reader.conn.execute(text(query))]


def test_counters_after_the_demo_match_the_store(scraped: Scraped) -> None:
    app, demo = scraped.app, scraped.demo
    body, series = scrape(scraped.http, SCRAPER)

    started = {
        (t, p): float(n)
        for t, p, n in sql(app, "SELECT template_id, plant, COUNT(*) FROM runs GROUP BY 1, 2")
    }
    assert by(series, "andon_runs_started_total", "template", "plant") == started
    assert sum(started.values()) == demo.runs > 0
    ended = {
        (str(t), str(st), str(o)): float(n)
        for t, st, o, n in sql(app, "SELECT template_id, status, outcome, COUNT(*) FROM runs "
                                    "WHERE ended_at IS NOT NULL GROUP BY 1, 2, 3")
    }  # fmt: skip
    assert by(series, "andon_runs_ended_total", "template", "status", "outcome") == ended
    demo_outcomes = {
        (t, "completed", o): float(n) for t, o, n in demo.outcomes if not o.startswith("(")
    }
    assert ended == demo_outcomes
    assert total(series, "andon_run_duration_seconds_count") == sum(ended.values())

    changes: Counter[tuple[str, str]] = Counter()
    for template, trace in sql(
        app, "SELECT r.template_id, e.trace FROM run_events e JOIN runs r ON r.run_id = e.run_id"
    ):
        for entry in json.loads(str(trace)):
            changes[(str(entry["change"]), str(template))] += 1
    retries = total(series, "andon_step_retries_total")
    assert retries == demo.retries == sum(n for (c, _), n in changes.items() if c == "retrying") > 0
    incidents = total(series, "andon_incidents_total")
    assert (
        incidents
        == demo.incidents
        == sum(n for (c, _), n in changes.items() if c == "incident")
        > 0
    )
    escalations = total(series, "andon_escalations_total")
    assert (
        escalations
        == demo.escalations
        == sum(n for (c, _), n in changes.items() if c == "escalated")
        > 0
    )

    failures = sql(app, "SELECT COUNT(*) FROM run_events WHERE type = 'StepFailed'")[0][0]
    assert total(series, "andon_action_failures_total") == failures > 0
    assert {a for (_, labels), v in series.items() for k, a in labels if k == "action" and v} >= {
        "erp.create_purchase_order", "purchase.check_budget"}  # fmt: skip

    closed = sql(app, "SELECT COUNT(*) FROM tasks WHERE status = 'closed'")[0][0]
    assert total(series, "andon_step_duration_seconds_count", kind="approval") == closed > 0
    assert total(series, "andon_approval_latency_seconds_count") == closed
    outcomes = sql(
        app, "SELECT COUNT(*) FROM run_events WHERE type IN ('StepSucceeded', 'StepFailed')"
    )[0][0]
    assert total(series, "andon_step_duration_seconds_count", kind="action") == outcomes > 0
    now = NOW.timestamp()
    breaches = sum(
        1
        for due, closed_at, outcome in sql(app, "SELECT due_at, closed_at, outcome FROM tasks")
        if due is not None and (outcome == "timeout" or float(closed_at or now) > float(due))
    )
    assert total(series, "andon_sla_breaches_total") == breaches > 0

    inbox = sql(app, "SELECT COUNT(*) FROM inbox")[0][0]
    assert total(series, "andon_inbox_events_total") == inbox > 0
    open_runs = sql(app, "SELECT COUNT(*) FROM runs WHERE ended_at IS NULL")[0][0]
    assert total(series, "andon_runs_open") == open_runs
    queued = sql(app, "SELECT COUNT(*) FROM outbox")[0][0]
    assert total(series, "andon_outbox_items") == queued
    assert "_created" not in body


def test_a_tenant_token_scrapes_only_its_tenant(scraped: Scraped) -> None:
    _, everyone = scrape(scraped.http, SCRAPER)
    token = scraped.app.tokens.issue(scraped.app.actor(), "admin", "scrape").token
    _, own = scrape(scraped.http, token)
    tenants = {v for (_, labels) in everyone for k, v in labels if k == "tenant"}
    assert tenants == {"default"}
    assert {k: v for k, v in everyone.items() if k[0] != "andon_metrics_collect_seconds"} == own

    other = scraped.app.tokens.issue(
        scraped.app.actor(f"admin@{OTHER}", OTHER), f"admin@{OTHER}", "b"
    )
    body, theirs = scrape(scraped.http, other.token)
    assert not theirs and "default" not in body


def test_scraping_needs_a_token_and_tenant_wide_read(scraped: Scraped) -> None:
    app, http = scraped.app, scraped.http
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    admin = app.actor()
    app.directory.create_user(admin, "site-op", "Site operator")
    app.directory.grant(admin, "site-op", "operator", "DE-STR")
    token = app.tokens.issue(admin, "site-op", "site scrape").token
    response = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


def test_openmetrics_when_asked(scraped: Scraped) -> None:
    response = scraped.http.get(
        "/metrics",
        headers={"Authorization": f"Bearer {SCRAPER}", "Accept": "application/openmetrics-text"},
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "_created" not in response.text
