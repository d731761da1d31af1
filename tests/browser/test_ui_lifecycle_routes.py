"""The template page's lifecycle (FastAPI's test client over SQLite, no browser): the
rollout panel (what is in force at each stage and plant), promoting (at once at an
ungoverned stage, by a promotion run at a governed one), a dry run and a migration with a
step mapping (one result per run), and the refusals: no permission, a promotion out of
order, a malformed or unknown mapping, a post without the CSRF token, another tenant."""

from __future__ import annotations

import httpx
import pytest
import ui_world
from fastapi.testclient import TestClient
from test_ui_routes import HTMX, journal_types, login
from ui_world import AUDITOR, OWNER, PASSWORD, PLANT, TENANT_B, Migratable, World

from andon.governance import authz

URL = "/ui/templates/supplier-ncr/migrations"


@pytest.fixture
def runs(world: World) -> Migratable:
    return ui_world.migratable(world)


def migrate(http: TestClient, csrf: str, htmx: bool = True, **form: str) -> httpx.Response:
    data = {"csrf": csrf, "from_version": "1", "to_version": "2", **form}
    return http.post(URL, data=data, headers=HTMX if htmx else {})


def versions(world: World, run_ids: list[str]) -> list[int]:
    app = world.app
    return [app.service.run(app.actor(), r).template_version for r in run_ids]


def test_the_rollout_panel_shows_what_is_in_force_where(
    client: TestClient, world: World, runs: Migratable
) -> None:
    login(client, AUDITOR)  # any reader of templates sees the rollout
    page = client.get("/ui/templates/supplier-ncr").text
    assert "Nothing is in force at <strong>production</strong> yet" in page
    assert '<th scope="col">production <span class="hint">(live, governed)</span></th>' in page
    assert '<td data-stage="dev"><strong>v2</strong></td>' in page  # every plant, as published
    owner = world.app.actor(OWNER)
    world.app.lifecycle.put_in_force(owner, "supplier-ncr", 2, "test", [PLANT], reason="pilot")
    page = client.get("/ui/templates/supplier-ncr").text
    grid = page[page.index('<table class="list rollout">') : page.index('id="promote-h"')]
    every, pilot = grid.split('<tr data-plant="*">')[1].split(f'<tr data-plant="{PLANT}">')
    assert '<td data-stage="test"><span class="empty">–</span></td>' in every
    assert (  # DE-STR follows every plant at dev, has its own v2 at test
        '<td data-stage="dev"><strong>v2</strong> <span class="hint">as every plant</span>'
        '<br><span class="hint">overlay r1 (newest)</span></td>'
    ) in pilot
    assert (
        '<td data-stage="test"><strong>v2</strong><br>'
        '<span class="hint">overlay r1 (newest)</span></td>'
    ) in pilot
    history = page[page.index('id="history-h"') : page.index('id="overlays-h"')]
    newest = history.split("<tr>")[2]  # after the header row
    for cell in ("<td>promoted</td>", "<td>test</td>", f"<td>{PLANT}</td>", "<td>v2",
                 f'<td class="mono">{OWNER}</td>', "<td>pilot</td>"):  # fmt: skip
        assert cell in newest


def test_a_dry_run_then_a_migration_report_each_run(
    client: TestClient, world: World, runs: Migratable
) -> None:
    csrf = login(client, OWNER)
    everyone = [*runs.at_mrb, runs.at_scar]
    before = {r: journal_types(world, r) for r in everyone}
    dry = migrate(client, csrf, mapping="mrb=mrb_board\n\n", dry_run="true")
    assert dry.status_code == 200 and "<html" not in dry.text  # the results, in place
    assert "Dry run, nothing was written: 2 would migrate, 1 refused." in dry.text
    for run_id in runs.at_mrb:
        row = dry.text.split(f'<tr data-run="{run_id}">')[1].split("</tr>")[0]
        assert ">would-migrate</td>" in row and 'mrb</span> → <span class="mono">mrb_board' in row
    refused = dry.text.split(f'<tr data-run="{runs.at_scar}">')[1].split("</tr>")[0]
    assert ">refused</td>" in refused
    assert "step &#39;await_scar&#39; is not in supplier-ncr@2" in refused
    assert {r: journal_types(world, r) for r in everyone} == before

    done = migrate(client, csrf, mapping="mrb=mrb_board")
    assert done.status_code == 200 and "2 migrated, 1 refused." in done.text
    assert versions(world, everyone) == [2, 2, 1]
    assert all(journal_types(world, r)[-1] == "RunMigrated" for r in runs.at_mrb)
    assert journal_types(world, runs.at_scar) == before[runs.at_scar]
    run = client.get(f"/ui/runs/{runs.at_mrb[0]}").text
    assert '<dd id="current-steps">mrb_board</dd>' in run
    again = migrate(client, csrf, htmx=False, plant=PLANT)  # without JavaScript: the page
    assert again.status_code == 200 and "<h1>supplier-ncr" in again.text
    assert "0 migrated, 1 refused." in again.text
    assert f'name="plant" value="{PLANT}"' in again.text  # the form as posted


def test_a_migration_without_run_migrate_is_refused(
    client: TestClient, world: World, runs: Migratable
) -> None:
    csrf = login(client, AUDITOR)
    refused = migrate(client, csrf, mapping="mrb=mrb_board")
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert f"<strong>Not allowed:</strong> {AUDITOR} may not run.migrate in tenant default" in (
        refused.text
    )
    everyone = [*runs.at_mrb, runs.at_scar]
    assert versions(world, everyone) == [1, 1, 1]
    app = world.app
    app.directory.create_user(app.actor(), "u-po-str", "Site owner", password=PASSWORD)
    app.directory.grant(app.actor(), "u-po-str", authz.PROCESS_OWNER, PLANT)
    csrf = login(client, "u-po-str")  # a site grant migrates that site only
    assert migrate(client, csrf, mapping="mrb=mrb_board").status_code == 403
    assert "2 migrated" in migrate(client, csrf, mapping="mrb=mrb_board", plant=PLANT).text


def test_a_bad_mapping_or_a_forged_post_changes_nothing(
    client: TestClient, world: World, runs: Migratable
) -> None:
    csrf = login(client, OWNER)
    malformed = migrate(client, csrf, mapping="mrb=mrb_board\nmrb mrb_board")
    assert malformed.status_code == 422
    assert "&#39;mrb mrb_board&#39; is not OLD_STEP=NEW_STEP" in malformed.text
    unknown = migrate(client, csrf, mapping="mrbx=mrb_board")
    assert unknown.status_code == 422 and "supplier-ncr@1 has no step &#39;mrbx&#39;" in (
        unknown.text
    )
    forged = client.post(URL, data={"from_version": "1", "to_version": "2"}, headers=HTMX)
    assert forged.status_code == 403 and "Form refused" in forged.text
    assert versions(world, [*runs.at_mrb, runs.at_scar]) == [1, 1, 1]


def test_another_tenant_cannot_migrate_our_runs(
    client: TestClient, world: World, runs: Migratable
) -> None:
    app = world.app
    admin_b = app.actor(f"admin@{TENANT_B}", TENANT_B)
    app.directory.create_user(admin_b, "po-b", "Owner B", password=PASSWORD)
    app.directory.grant(admin_b, "po-b", authz.PROCESS_OWNER)
    csrf = login(client, "po-b", TENANT_B)
    hidden = migrate(client, csrf, mapping="mrb=mrb_board")
    assert hidden.status_code == 404 and "supplier-ncr" in hidden.text
    assert migrate(client, csrf, htmx=False).status_code == 404
    assert promote(client, csrf, stage="test").status_code == 404
    assert in_force(world, "test") == {}
    assert versions(world, [*runs.at_mrb, runs.at_scar]) == [1, 1, 1]


def promote(http: TestClient, csrf: str, **form: str) -> httpx.Response:
    data = {"csrf": csrf, "version": "2", **form}
    return http.post("/ui/templates/supplier-ncr/promotions", data=data, follow_redirects=False)


def in_force(world: World, stage: str) -> dict[str, int | None]:
    view = world.app.lifecycle.versions(world.app.actor(), "supplier-ncr")
    return {f.plant: f.record.version for f in view.in_force if f.stage == stage}


def test_promoting_to_an_ungoverned_stage_puts_it_in_force_at_once(
    client: TestClient, world: World, runs: Migratable
) -> None:
    csrf = login(client, OWNER)
    page = client.get("/ui/templates/supplier-ncr").text
    assert '<option value="test" selected>test</option>' in page  # v2 is at dev: next, test
    done = promote(client, csrf, stage="test", reason="lab sign-off")
    assert (done.status_code, done.headers["location"]) == (
        303, "/ui/templates/supplier-ncr#rollout",
    )  # fmt: skip
    assert in_force(world, "test") == {"": 2}
    page = client.get(done.headers["location"]).text
    assert "<td>lab sign-off</td>" in page


def test_promoting_to_a_governed_stage_requests_the_promotion_run(
    client: TestClient, world: World, runs: Migratable
) -> None:
    app = world.app
    app.lifecycle.put_in_force(app.actor(OWNER), "supplier-ncr", 2, "test")
    csrf = login(client, OWNER)
    asked = promote(client, csrf, stage="production", plants=f" {PLANT} ", reason="pilot")
    assert asked.status_code == 303 and asked.headers["location"].startswith("/ui/runs/")
    run_id = asked.headers["location"].removeprefix("/ui/runs/")
    run = app.service.run(app.actor(), run_id)
    assert run.template_id == "template-promotion" and run.started_by == OWNER
    given = run.state["input"]
    assert isinstance(given, dict)
    assert (given["template_id"], given["version"], given["stage"], given["plants"]) == (
        "supplier-ncr", 2, "production", [PLANT],
    )  # fmt: skip
    assert in_force(world, "production") == {}  # only the approved run puts it in force
    page = client.get(asked.headers["location"]).text
    assert "Open tasks" in page and "Process owner approves for production" in page


def test_a_refused_promotion_shows_at_the_form_and_records_nothing(
    client: TestClient, world: World, runs: Migratable
) -> None:
    before = world.app.lifecycle.versions(world.app.actor(), "supplier-ncr").history
    csrf = login(client, AUDITOR)
    refused = promote(client, csrf, stage="test", reason="why not")
    assert refused.status_code == 403
    notice = refused.text.split('id="promote-refusal">')[1].split("</div>")[0]
    assert notice.startswith(f"<strong>Not allowed:</strong> {AUDITOR} may not template.promote")
    assert 'name="reason" value="why not"' in refused.text  # the form as posted
    csrf = login(client, OWNER)
    early = promote(client, csrf, stage="production", plants=PLANT)
    assert early.status_code == 409
    assert "supplier-ncr@2 is not in force at stage &#39;test&#39; for any plant" in early.text
    assert f'name="plants" value="{PLANT}"' in early.text
    nowhere = promote(client, csrf, stage="test", plants="XX-NOPE")
    assert nowhere.status_code == 404 and "no site &#39;XX-NOPE&#39;" in nowhere.text
    forged = client.post(
        "/ui/templates/supplier-ncr/promotions", data={"version": "2", "stage": "test"}
    )
    assert forged.status_code == 403 and "Form refused" in forged.text
    assert world.app.lifecycle.versions(world.app.actor(), "supplier-ncr").history == before
