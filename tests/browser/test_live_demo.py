"""The README's run command, ``andon up --demo``, as a newcomer meets it: it prints the URL
and the demo logins; behind them are weeks of history, running cases, a live inbox, new
documents arriving while one looks, and filled dashboards (seen in headless Chromium, with
screenshots in test-artifacts/screenshots/). Ctrl-C stops it cleanly and the audit trail
it wrote verifies."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from ui_served import CHROMIUM_ARGS, SHOTS, chromium

from andon.tools.demo.live import LOGINS, PASSWORD


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def andon(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    return subprocess.Popen(
        [sys.executable, "-m", "andon.tools.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def served_demo(
    tmp_path: Path, speed: int = 600
) -> Iterator[tuple[str, list[str], subprocess.Popen[str]]]:
    """``andon up --demo`` in ``tmp_path`` until its banner is out; stopped with Ctrl-C. A
    new document arrives every 2 s on average; simulated people act ``speed`` times faster
    than in a plant."""
    port = free_port()
    pace = ("--pace", "2", "--speed", str(speed))
    server = andon(tmp_path, "up", "--demo", "--port", str(port), *pace)
    assert server.stdout is not None
    banner: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        banner.append(line.rstrip())
        if line.startswith("API:"):
            break
    try:
        assert banner and banner[-1].startswith("API:"), (banner, server.poll())
        yield f"http://127.0.0.1:{port}", banner, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.communicate(timeout=60)
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, list[str], subprocess.Popen[str]]]:
    with served_demo(tmp_path) as served:
        yield served


def stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0 and "up stopped" in stderr, stderr[-2000:]


def waiting_for_colleagues(tmp_path: Path) -> set[str]:
    """Open tasks only simulated people decide (outside Stuttgart, where the logins work)."""
    with closing(sqlite3.connect(tmp_path / "andon.db")) as conn:
        rows = conn.execute(
            "SELECT task_id FROM tasks WHERE status = 'open' AND plant != 'DE-STR'"
        ).fetchall()
    return {str(task_id) for (task_id,) in rows}


def session(base: str, user: str) -> dict[str, str]:
    login = {"tenant": "default", "user": user, "password": PASSWORD}
    answer = httpx.post(f"{base}/v1/session", json=login, timeout=10)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/ui/login")
    page.get_by_label("Tenant").fill("default")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()


def runs(base: str, auth: dict[str, str], status: str) -> int:
    """How many runs have ``status`` (at most 500: enough to tell)."""
    found = httpx.get(f"{base}/v1/runs", params={"status": status, "limit": 500}, headers=auth)
    assert found.status_code == 200, found.text
    return len(found.json()["items"])


def count_runs(tmp_path: Path) -> int:
    with closing(sqlite3.connect(tmp_path / "andon.db")) as conn:
        return int(conn.execute("SELECT count(*) FROM runs").fetchone()[0])


@pytest.mark.slow  # about a minute: the live demo, seen in Chromium
def test_the_demo_serves_a_live_plant_to_a_newcomer(
    demo: tuple[str, list[str], subprocess.Popen[str]], tmp_path: Path
) -> None:
    base, banner, server = demo
    assert f"open {base}/ui" in banner[0]
    for login in LOGINS:
        assert any(line.split()[:1] == [login.user] for line in banner), banner
    assert PASSWORD in banner[1]

    lena = session(base, "lena")
    running, completed = runs(base, lena, "running"), runs(base, lena, "completed")
    assert running >= 3 and completed >= 50, (running, completed)
    anna = session(base, "anna")
    deadline = time.monotonic() + 60  # the first Stuttgart NCR reaches its MRB in seconds
    while not httpx.get(f"{base}/v1/tasks", headers=anna).json():
        assert time.monotonic() < deadline, "anna's inbox stayed empty"
        time.sleep(0.5)

    before = count_runs(tmp_path)
    deadline = time.monotonic() + 60
    while count_runs(tmp_path) < before + 3 and time.monotonic() < deadline:
        time.sleep(1)
    assert count_runs(tmp_path) >= before + 3, "no new documents arrived"

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, base, "lena")
            page.get_by_role("link", name="Dashboards").click()
            completed_figure = page.locator('[data-figure="completed"]')
            completed_all = int(completed_figure.inner_text())
            assert completed_all >= 50
            for chart in ("Cycle time of completed runs", "Approval latency by role and plant",
                          "Bottleneck steps", "SLA breaches and exceptions per day"):  # fmt: skip
                expect(page.get_by_role("img", name=re.compile(f"^{chart}"))).to_be_visible()
            unlabelled = page.eval_on_selector_all(
                "select, input:not([type=hidden])",
                "els => els.filter(e => e.labels.length === 0).map(e => e.name)",
            )
            unnamed = page.eval_on_selector_all(
                "svg.chart", "els => els.filter(e => !e.getAttribute('aria-labelledby')).length"
            )
            assert unlabelled == [] and unnamed == 0
            page.get_by_label("Plant", exact=True).select_option("DE-STR")
            page.get_by_role("button", name="Show").click()
            expect(page.get_by_label("Plant", exact=True)).to_have_value("DE-STR")
            assert 0 < int(completed_figure.inner_text()) < completed_all
            page.screenshot(path=str(SHOTS / "dashboard-demo.png"), full_page=True)
            inbox = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(inbox, base, "anna")
            expect(inbox.get_by_role("article").first).to_be_visible()
            inbox.screenshot(path=str(SHOTS / "inbox-demo.png"), full_page=True)
        finally:
            browser.close()

    stop(server)
    left = waiting_for_colleagues(tmp_path)
    assert left
    total = count_runs(tmp_path)

    # Started again on the same database: no second history, and the tasks left open get
    # decided (the simulated approvers take the earlier session's documents on again; fast
    # enough here that a weekend in the plants' calendars passes in about a minute).
    with served_demo(tmp_path, speed=5000) as (_, _, second):
        assert count_runs(tmp_path) <= total + 2  # at most the two welcome documents
        deadline = time.monotonic() + 120
        while left <= waiting_for_colleagues(tmp_path):
            assert time.monotonic() < deadline, "no task of the earlier session was decided"
            time.sleep(1)
        stop(second)

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANDON_")}
    verified = subprocess.run(
        [sys.executable, "-m", "andon.tools.cli", "audit", "verify"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
