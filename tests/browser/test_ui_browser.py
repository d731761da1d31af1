"""The web UI in headless Chromium (Debian's, driven by Playwright; scripts/services.sh
installs it): an approver signs in, opens the inbox, approves a signed step through the
signature dialog, sees the run advance, and is refused under segregation of duties.
Screenshots of the inbox, the run page and the dashboard go to test-artifacts/screenshots/.

The server and the browser come from ``ui_served`` (fixtures in conftest.py)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect
from ui_served import SHOTS, open_page, sign_in
from ui_world import PASSWORD, World


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
