"""A real server and a real browser for the UI tests: what ``andon up`` runs (the API app,
UI included, under uvicorn on a free loopback port, with a worker thread) over a database
prepared by ``ui_world``, and Debian's headless Chromium driven by Playwright
(scripts/services.sh installs it)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import ui_world
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from ui_world import PASSWORD, World

from andon.api.app import create_api

SHOTS = ui_world.ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium() -> str:
    """Debian's Chromium; missing is a failure, not a skip (CI installs it)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        pytest.fail("chromium is not installed: run scripts/services.sh (apt package chromium)")
    return found


@contextmanager
def serve(world: World) -> Iterator[str]:
    """Serve ``world`` with a worker thread until the block ends; yields the base URL."""
    app = world.app
    server = uvicorn.Server(
        uvicorn.Config(create_api(app), host="127.0.0.1", port=0, log_level="warning")
    )
    stop = threading.Event()
    runner = app.worker()
    threads = [
        threading.Thread(target=server.run, name="ui-api", daemon=True),
        threading.Thread(target=runner.run_forever, args=(stop,), name="ui-worker", daemon=True),
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        stop.set()
        app.service.wake()
        for thread in threads:
            thread.join(timeout=10)
        runner.close()


def open_page(browser: Browser, problems: list[str]) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)

    def noted(message: ConsoleMessage) -> None:
        # CSP violations and script errors show up here; refusals are 403s on purpose.
        expected = "the server responded with a status of 403" in message.text
        if message.type == "error" and not expected:
            problems.append(message.text)

    page.on("console", noted)
    return page


def sign_in(page: Page, base: str, user: str) -> None:
    page.goto(f"{base}/ui/inbox")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Tenant").fill("default")
    page.get_by_label("User").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()
