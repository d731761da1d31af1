"""Lifecycle acts from the template page: promoting a version (at a governed stage by
requesting the promotion run, ADR 0034; elsewhere at once, ADR 0031), and migrating a
version's waiting runs to another version (``RunMigrations.migrate``, ADR 0032) with the
result of each run shown in place."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from andon.errors import AndonError
from andon.runtime.run_migration import Plan, RunMigrations, step_mapping
from andon.web.migrationview import Batch
from andon.web.render import HEADERS, UiRoute, failure, html, is_htmx
from andon.web.rolloutview import Promotion
from andon.web.routes_templates import template_context
from andon.web.session import Andon, Posted

router = APIRouter(prefix="/ui", route_class=UiRoute)
Version = Annotated[int, Form(ge=1, le=1_000_000)]


@router.post("/templates/{template_id}/promotions")
def promote(
    request: Request,
    template_id: str,
    andon: Andon,
    who: Posted,
    version: Version,
    stage: Annotated[str, Form(min_length=1, max_length=32)],
    plants: Annotated[str, Form(max_length=1000)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """At a governed stage, request the promotion and go to its run (awaiting approvals);
    elsewhere put the version in force and go back to the rollout panel. A refusal shows
    at the form, as posted."""
    names = [p.strip() for p in plants.split(",") if p.strip()]
    try:
        if stage in andon.lifecycle.governed(who.actor):
            run_id = andon.promotions.request(
                who.actor, template_id, version, stage, names, reason=reason
            )
            return RedirectResponse(f"/ui/runs/{quote(run_id, safe='')}", 303, headers=HEADERS)
        andon.lifecycle.put_in_force(who.actor, template_id, version, stage, names, reason=reason)
    except AndonError as exc:
        status, title, detail = failure(exc)
        if status == 500:
            raise
        asked = Promotion(version, stage, plants, reason, (title, detail))
        context = {**template_context(andon, who, template_id), "promotion": asked}
        return html(request, "template.html", context, status=status)
    target = f"/ui/templates/{quote(template_id, safe='')}#rollout"
    return RedirectResponse(target, 303, headers=HEADERS)


@router.post("/templates/{template_id}/migrations")
def migrate(
    request: Request,
    template_id: str,
    andon: Andon,
    who: Posted,
    from_version: Version,
    to_version: Version,
    mapping: Annotated[str, Form(max_length=20_000)] = "",
    plant: Annotated[str, Form(max_length=64)] = "",
    dry_run: Annotated[bool, Form()] = False,
) -> Response:
    """Migrate (or with ``dry_run`` judge) the unended runs of ``from_version``; a refusal
    of the whole batch (permission, a mapping naming no step) shows where results would."""
    batch = Batch(from_version, to_version, mapping, plant.strip(), dry_run)
    status = 200
    try:
        pairs = [line for line in mapping.splitlines() if line.strip()]
        plan = Plan(template_id, from_version, to_version, step_mapping(pairs),
                    batch.plant or None, (), dry_run)  # fmt: skip
        results = RunMigrations(andon.service).migrate(who.actor, plan)
        batch = replace(batch, results=tuple(results))
    except AndonError as exc:
        status, title, detail = failure(exc)
        if status == 500:
            raise
        batch = replace(batch, refusal=(title, detail))
    if is_htmx(request):  # the form stays as typed; the results replace the last ones
        context = {"template_id": template_id, "migration": batch}
        return html(request, "_migration_results.html", context, status=status)
    context = {**template_context(andon, who, template_id), "migration": batch}
    return html(request, "template.html", context, status=status)
