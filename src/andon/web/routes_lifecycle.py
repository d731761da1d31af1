"""Lifecycle acts from the template page: migrating a version's waiting runs to another
version (``RunMigrations.migrate``, ADR 0032), the results shown per run in place."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from andon.errors import AndonError
from andon.runtime.run_migration import Plan, RunMigrations, step_mapping
from andon.web.migrationview import Batch
from andon.web.render import UiRoute, failure, html, is_htmx
from andon.web.routes_templates import template_context
from andon.web.session import Andon, Posted

router = APIRouter(prefix="/ui", route_class=UiRoute)
Version = Annotated[int, Form(ge=1, le=1_000_000)]


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
