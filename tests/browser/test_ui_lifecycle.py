"""The template page's lifecycle in headless Chromium over a real server: a process owner
reads the rollout panel, dry-runs and then migrates the waiting runs of version 1 to
version 2 with a step mapping and sees each run's result; an auditor, who may read but
not migrate, is refused in place. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import ui_world
from playwright.sync_api import Browser, Page, expect
from ui_served import SHOTS, open_page, serve, sign_in
from ui_world import AUDITOR, OWNER, Migratable, World


@pytest.fixture
def runs(world: World) -> Migratable:
    return ui_world.migratable(world)


@pytest.fixture
def served(world: World, runs: Migratable) -> Iterator[tuple[str, World]]:
    with serve(world) as base:  # the runs are prepared before the worker starts
        yield base, world


def template_page(browser: Browser, base: str, user: str, problems: list[str]) -> Page:
    page = open_page(browser, problems)
    sign_in(page, base, user)
    page.goto(f"{base}/ui/templates/supplier-ncr")
    return page


def migration_form(page: Page, mapping: str, *, dry_run: bool) -> None:
    form = page.get_by_role("region", name="Migrate runs")
    form.get_by_label("From version").select_option("1")
    form.get_by_label("To version").select_option("2")
    form.get_by_label("Renamed steps").fill(mapping)
    form.get_by_label("Dry run").set_checked(dry_run)
    form.get_by_role("button", name="Migrate runs").click()


def test_a_process_owner_migrates_waiting_runs_from_the_template_page(
    served: tuple[str, World], runs: Migratable, browser: Browser
) -> None:
    base, world = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    page = open_page(browser, problems)
    sign_in(page, base, OWNER)
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="supplier-ncr").first.click()

    grid = page.get_by_role("table", name=re.compile("^What new runs start"))
    expect(grid.locator('tr[data-plant="*"] td[data-stage="dev"]')).to_have_text("v2")
    expect(grid.locator('tr[data-plant="DE-STR"] td[data-stage="dev"]')).to_contain_text(
        "overlay r1 (newest)"
    )
    expect(page.get_by_role("region", name="Rollout")).to_contain_text(
        "Nothing is in force at production yet"
    )
    unlabelled = page.eval_on_selector_all(
        "input:not([type=hidden]), select, textarea",
        "els => els.filter(e => e.labels.length === 0).map(e => e.name)",
    )
    assert unlabelled == []

    migration_form(page, "mrb=mrb_board", dry_run=True)
    results = page.locator("#migration-results")
    expect(results.get_by_role("status")).to_have_text(
        "Dry run, nothing was written: 2 would migrate, 1 refused."
    )
    migration_form(page, "mrb=mrb_board", dry_run=False)
    expect(results.get_by_role("status")).to_have_text("2 migrated, 1 refused.")
    for run_id in runs.at_mrb:
        row = results.locator(f'tr[data-run="{run_id}"]')
        expect(row).to_contain_text("migrated")
        expect(row).to_contain_text("mrb → mrb_board")
    refused = results.locator(f'tr[data-run="{runs.at_scar}"]')
    expect(refused).to_contain_text("refused")
    expect(refused).to_contain_text("step 'await_scar' is not in supplier-ncr@2")
    page.screenshot(path=str(SHOTS / "template-migration.png"), full_page=True)

    results.get_by_role("link", name=runs.at_mrb[0]).click()
    expect(page.locator("#current-steps")).to_have_text("mrb_board")
    app = world.app
    assert app.service.run(app.actor(), runs.at_scar).template_version == 1
    assert problems == []


def test_a_user_without_run_migrate_is_refused_on_the_template_page(
    served: tuple[str, World], runs: Migratable, browser: Browser
) -> None:
    base, world = served
    problems: list[str] = []
    page = template_page(browser, base, AUDITOR, problems)
    migration_form(page, "mrb=mrb_board", dry_run=False)
    alert = page.locator("#migration-results").get_by_role("alert")
    expect(alert).to_contain_text(f"Not allowed: {AUDITOR} may not run.migrate")
    expect(page.get_by_role("heading", name="Migrate runs")).to_be_visible()  # still the page
    app = world.app
    moved = [app.service.run(app.actor(), r).template_version for r in runs.at_mrb]
    assert moved == [1, 1]
    assert problems == []


def test_a_process_owner_promotes_from_the_rollout_panel(
    served: tuple[str, World], runs: Migratable, browser: Browser
) -> None:
    base, world = served
    problems: list[str] = []
    page = template_page(browser, base, OWNER, problems)
    promote = page.get_by_role("form", name="Promote")
    grid = page.get_by_role("table", name=re.compile("^What new runs start"))

    # test is not governed: v2 is in force there for every plant at once
    expect(promote.get_by_label("To stage")).to_have_value("test")
    promote.get_by_label("Reason").fill("lab sign-off")
    promote.get_by_role("button", name="Promote").click()
    expect(grid.locator('tr[data-plant="*"] td[data-stage="test"]')).to_have_text("v2")

    # production is: the pilot plant's promotion is a run awaiting its approvals
    promote.get_by_label("Version").select_option("2")
    promote.get_by_label("To stage").select_option("production")
    promote.get_by_label("Plants").fill("DE-STR")
    promote.get_by_label("Reason").fill("pilot at Stuttgart")
    promote.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name=re.compile("^Run "))).to_be_visible()
    tasks = page.get_by_role("region", name="Open tasks")
    expect(tasks).to_contain_text("Process owner approves for production")
    expect(page.locator("#current-steps")).to_have_text("owner_approval")
    page.screenshot(path=str(SHOTS / "promotion-requested.png"), full_page=True)
    run_id = page.url.rsplit("/", 1)[1]
    app = world.app
    open_tasks = [t.step for t in app.service.tasks(app.actor()) if t.run_id == run_id]
    assert app.service.run(app.actor(), run_id).template_id == "template-promotion"
    assert open_tasks == ["owner_approval"]

    page.goto(f"{base}/ui/templates/supplier-ncr")
    expect(grid.locator('tr[data-plant="DE-STR"] td[data-stage="production"]')).to_have_text("–")
    history = page.get_by_role("table", name="Recent changes")
    expect(history).not_to_contain_text("production")  # in force only once approved
    assert problems == []
