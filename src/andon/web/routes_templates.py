"""Templates: the catalogue, one template's versions, rollout and plant overlays, one version's
source and diagram, and the diff between two versions (what changed in meaning, then the
lines of the source)."""

from __future__ import annotations

import difflib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from markupsafe import Markup

from andon.core.template import ApprovalSpec, Template
from andon.errors import NotFoundError
from andon.store.base import TemplateRow
from andon.web import diagram, diffview, migrationview, reads, rolloutview
from andon.web.render import UiRoute, html
from andon.web.session import Andon, Session, UiSession

router = APIRouter(prefix="/ui", route_class=UiRoute)


@router.get("/templates")
def catalogue(request: Request, andon: Andon, who: Session) -> Response:
    by_id: dict[str, list[TemplateRow]] = {}
    for row in andon.service.published_templates(who.actor):
        by_id.setdefault(row.template_id, []).append(row)
    entries = [(tid, sorted(rows, key=lambda r: r.version)) for tid, rows in sorted(by_id.items())]
    return html(request, "templates.html", {"title": "Templates", "entries": entries})


@router.get("/templates/{template_id}")
def template_page(request: Request, template_id: str, andon: Andon, who: Session) -> Response:
    return html(request, "template.html", template_context(andon, who, template_id))


def template_context(andon: Andon, who: UiSession, template_id: str) -> dict[str, object]:
    """The template page: versions, the rollout panel with the promote form, plant
    overlays, the migration form (both posted to ``routes_lifecycle``) and the latest
    version's flow."""
    versions = _versions(andon, who, template_id)
    latest = versions[-1]
    template = andon.service.template(who.actor, template_id, latest.version)
    previous = versions[-2].version if len(versions) > 1 else latest.version
    rollout = andon.lifecycle.versions(who.actor, template_id)
    return {
        "title": f"Template {template_id}",
        "template_id": template_id,
        "versions": versions,
        "latest": latest,
        "rollout": rolloutview.panel(rollout, andon.lifecycle.governed(who.actor)),
        "promotion": rolloutview.proposed(rollout),
        "migration": migrationview.Batch(previous, latest.version),
        "overlays": reads.overlays(andon, who.actor, template_id),
        "defaults": {name: p.default for name, p in template.parameters.items()},
        "svg": _svg(template),
    }


@router.get("/templates/{template_id}/versions/{version}")
def version_page(
    request: Request, template_id: str, version: int, andon: Andon, who: Session
) -> Response:
    row = andon.service.template_source(who.actor, template_id, version)
    template = andon.service.template(who.actor, template_id, version)
    context = {
        "title": f"{template_id}@{version}",
        "row": row,
        "template": template,
        "steps": [_step_row(template, s) for s in template.steps],
        "svg": _svg(template),
    }
    return html(request, "template_version.html", context)


@router.get("/templates/{template_id}/diff")
def diff_page(
    request: Request,
    template_id: str,
    andon: Andon,
    who: Session,
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
) -> Response:
    old = andon.service.template_source(who.actor, template_id, from_version)
    new = andon.service.template_source(who.actor, template_id, to_version)
    lines = list(
        difflib.unified_diff(
            old.source.splitlines(), new.source.splitlines(),
            f"{template_id}@{from_version}", f"{template_id}@{to_version}", lineterm="",
        )
    )  # fmt: skip
    kinds = [_line_kind(line) for line in lines]
    semantic = andon.service.template_diff(who.actor, template_id, from_version, to_version)
    context = {
        "semantic": semantic,
        "sections": diffview.sections(semantic),
        "title": f"{template_id}: {from_version} → {to_version}",
        "template_id": template_id,
        "old": old,
        "new": new,
        "lines": list(zip(kinds, lines, strict=True)),
        "versions": _versions(andon, who, template_id),
    }
    return html(request, "diff.html", context)


def _versions(andon: Andon, who: UiSession, template_id: str) -> list[TemplateRow]:
    rows = [r for r in andon.service.published_templates(who.actor) if r.template_id == template_id]
    if not rows:
        raise NotFoundError(f"no published template '{template_id}'")
    return sorted(rows, key=lambda r: r.version)


def _svg(template: Template) -> Markup:
    states = diagram.step_states(template, None)
    return Markup(diagram.render(template, states, f"Flow of {template.ref}"))  # escaped parts


def _step_row(template: Template, step_id: str) -> dict[str, str]:
    step = template.step(step_id)
    spec = step.spec
    roles = signature = ""
    if isinstance(spec, ApprovalSpec):
        roles = ", ".join(r if isinstance(r, str) else f"${r.name}" for r in spec.roles)
        if spec.roles_from is not None:
            roles = (roles + "; " if roles else "") + f"from {spec.roles_from.source}"
        if spec.signature is not None:
            signature = spec.signature.meaning
    return {"id": step_id, "kind": step.kind, "roles": roles, "signature": signature,
            "next": ", ".join(step.successors())}  # fmt: skip


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "same"
