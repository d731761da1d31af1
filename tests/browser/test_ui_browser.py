"""The web UI in headless Chromium (Debian's, driven by Playwright; scripts/services.sh
installs it): an approver signs in, opens the inbox, approves a signed step through the
signature dialog, sees the run advance, and is refused under segregation of duties.
Screenshots of the inbox, the run page and the dashboard go to test-artifacts/screenshots/.

The server is what ``andon up`` runs: the API app (UI included) under uvicorn on a free
loopback port, with a worker thread, over a database prepared by ``ui_world``."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ui_world
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, World]]:
    world = ui_world.build(tmp_path)
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
        yield f"http://127.0.0.1:{port}", world
    finally:
        server.should_exit = True
        stop.set()
        app.service.wake()
        for thread in threads:
            thread.join(timeout=10)
        runner.close()
        app.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


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


def sign(page: Page, title: str, password: str) -> None:
    """Open the task's signature dialog with Approve and sign with ``password``."""
    task = page.get_by_role("article", name=title)
    task.get_by_role("button", name="Approve…").click()
    dialog = page.get_by_role("dialog", name="Electronic signature")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Password (re-enter to sign)").fill(password)
    dialog.get_by_role("button", name="Sign").click()


def test_an_approver_signs_sees_the_run_advance_and_is_refused_under_duties(
    served: tuple[str, World], browser: Browser
) -> None:
    base, world = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    page = open_page(browser, problems)

    sign_in(page, base, "u-ps")
    review = page.get_by_role("article", name="Production review of the batch record")
    mrb = page.get_by_role("article", name="MRB disposition")
    expect(review).to_contain_text("signed step: review")
    expect(review).to_contain_text(re.compile(r"SLA: due in 1 d 23 h"))
    expect(mrb.get_by_role("table", name="Matched decision-table rows")).to_contain_text(
        "scrap-mid"
    )
    expect(mrb).to_contain_text("You can decide it as PS at DE-STR")
    unlabelled = page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        "els => els.filter(e => e.labels.length === 0).map(e => e.name)",
    )
    assert unlabelled == []
    page.screenshot(path=str(SHOTS / "inbox.png"), full_page=True)

    # A wrong password keeps the dialog open and says so inside it; Escape closes it.
    sign(page, "Production review of the batch record", "not my password")
    dialog = page.get_by_role("dialog", name="Electronic signature")
    expect(dialog.get_by_role("alert")).to_contain_text("re-authentication of 'u-ps' failed")
    expect(dialog).to_contain_text("Meaning of this signature: review")
    page.screenshot(path=str(SHOTS / "signature-dialog.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    sign(page, "Production review of the batch record", PASSWORD)
    expect(review.get_by_role("status")).to_contain_text("Recorded: approve with your e-signature")
    review.get_by_role("link", name="Open the run").click()
    expect(page.locator("#current-steps")).to_have_text("qc_approval")
    expect(page.locator('[data-step="qc_approval"]')).to_have_class(re.compile("step-current"))
    expect(page.locator("#chain-status")).to_contain_text("1 signature checked")
    expect(page.locator(".signature")).to_contain_text("Paula Schmid")
    page.screenshot(path=str(SHOTS / "run.png"), full_page=True)

    # QC approves in a browser of its own; the run moves on to the QA review.
    qc_page = open_page(browser, problems)
    sign_in(qc_page, base, "u-qc")
    sign(qc_page, "QC results approval", PASSWORD)
    expect(qc_page.get_by_role("status")).to_contain_text("Recorded: approve")

    # u-ps also holds QA, but acted as PS on this batch: refused, with the rule named.
    page.goto(f"{base}/ui/inbox")
    sign(page, "QA review of production and control records (211.192)", PASSWORD)
    refusal = page.get_by_role("alert").filter(has_text="Refused under segregation of duties")
    expect(refusal).to_contain_text("conflicting-roles")
    expect(refusal).to_contain_text("may not also act as QA")
    page.screenshot(path=str(SHOTS / "sod-refusal.png"), full_page=True)
    page.goto(f"{base}/ui/runs/{world.batch_run}")
    expect(page.locator("#current-steps")).to_have_text("qa_review")
    expect(page.get_by_role("heading", name="Refused attempts")).to_be_visible()

    page.get_by_role("link", name="Dashboards").click()
    latency = page.get_by_role("img", name=re.compile("^Approval latency by role and plant"))
    expect(latency).to_be_visible()
    expect(latency).to_contain_text("PS · DE-STR")
    expect(page.get_by_role("img", name=re.compile("^Runs started and completed"))).to_be_visible()
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    assert problems == []
