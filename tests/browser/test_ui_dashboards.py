"""The dashboards page over a real SQLite database: a batch driven to release on a manual
clock gives known approval latencies and a known cycle time, and the page shows exactly
those, narrowed by the filters and by tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import ui_world
from fastapi.testclient import TestClient
from test_ui_routes import login
from ui_world import PASSWORD, PLANT, TENANT_B, World

from andon.analytics import Analytics, Window
from andon.runtime.clock import ManualClock
from andon.runtime.service import Credentials, TaskDecision
from andon.testing import drain

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def world(tmp_path: Path, clock: ManualClock) -> Iterator[World]:
    built = ui_world.build(tmp_path, clock)
    yield built
    built.app.close()


def release_the_batch(world: World, clock: ManualClock) -> None:
    """PS after 2 h, QC 1 h later, QA review 3 h later, disposition 30 min later: the batch
    is released 6.5 h after it started."""
    app = world.app
    app.directory.create_user(app.actor(), "u-qa", "Quirin Acker", password=PASSWORD)
    app.directory.grant(app.actor(), "u-qa", "QA", PLANT)
    steps = [
        (timedelta(hours=2), "u-ps", ""),
        (timedelta(hours=1), "u-qc", ""),
        (timedelta(hours=3), "u-qa", ""),
        (timedelta(minutes=30), "u-qa", "records complete"),
    ]
    for wait, user, reason in steps:
        clock.advance(wait)
        task = next(t for t in app.service.tasks(app.actor()) if t.run_id == world.batch_run)
        signed = Credentials(PASSWORD, reason)
        app.service.decide_task(app.actor(user), TaskDecision(task.task_id, credentials=signed))
        drain(app)
    assert app.service.run(app.actor(), world.batch_run).outcome == "released"


def row(page: str, *cells: str) -> bool:
    """Whether a table row of ``page`` starts with these cells."""
    pattern = "".join(rf"<td[^>]*>{re.escape(cell)}</td>\s*" for cell in cells)
    return re.search(rf"<tr>\s*{pattern}", page) is not None


def figure(page: str, name: str) -> int:
    found = re.search(rf'data-figure="{name}">(\d+)<', page)
    assert found, f"no figure {name}"
    return int(found.group(1))


def test_the_dashboards_show_what_the_runs_did(
    client: TestClient, world: World, clock: ManualClock
) -> None:
    release_the_batch(world, clock)
    login(client, "u-qe")
    page = client.get("/ui/dashboards").text

    assert figure(page, "completed") == 1 and figure(page, "incidents") == 0
    assert row(page, "≤ 8 h", "1") and row(page, "≤ 4 h", "0")  # 6.5 h from start to release
    assert row(page, "PS", PLANT, "1", "2.0 h", "2.0 h")
    assert row(page, "QC", PLANT, "1", "60 min", "60 min")
    assert row(page, "batch-release", "production_review", "1", "2.0 h")
    assert row(page, "20 Nov", "2", "1")  # NCR and batch started, the batch completed
    assert 'role="img"' in page and 'id="cycle-title"' in page and 'id="latency-title"' in page
    assert '<option value="30" selected>' in page  # the default period

    # The headline matches the store read directly.
    window = Window(since=clock.now().timestamp() - 30 * 86_400)
    total = Analytics(world.app.service.store).cycle_times(world.app.actor(), window).total
    assert figure(page, "completed") == total

    ncr_only = client.get("/ui/dashboards", params={"template": "supplier-ncr"}).text
    assert figure(ncr_only, "completed") == 0 and "No run completed in this period" in ncr_only
    assert '<option value="supplier-ncr" selected>' in ncr_only


def test_unknown_filters_fall_back_to_the_defaults(client: TestClient) -> None:
    login(client, "u-qe")
    page = client.get(
        "/ui/dashboards", params={"period": "forever", "plant": "XX-NOPE", "template": "<b>"}
    )
    assert page.status_code == 200
    assert '<option value="30" selected>' in page.text
    assert "XX-NOPE" not in page.text and "<b>" not in page.text


def test_another_tenant_sees_its_own_figures_only(client: TestClient, world: World) -> None:
    login(client, "u-b", TENANT_B)
    page = client.get("/ui/dashboards", params={"period": "all"}).text
    assert PLANT not in page and "batch-release" not in page and "supplier-ncr" not in page
    assert '<option value="tiny">' in page
    started = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td class=\"num\">(\d+)</td>", page)
    assert sum(map(int, started)) == 1  # tenant B's single run


def test_the_page_needs_a_session(client: TestClient) -> None:
    answer = client.get("/ui/dashboards", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login")
