"""Reads the service has no method for yet: a template's plant overlays. Authorized like
every template read (``template.read``) and scoped to the actor's tenant; a candidate to
move into ``runtime`` once another shell needs it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from andon.bootstrap import App
from andon.core.json import JsonObject
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor


@dataclass(frozen=True, slots=True)
class PlantOverlay:
    plant: str
    digest: str
    params: JsonObject
    source: str
    published_at: float
    superseded: int
    """Earlier revisions of the same plant's overlay (the newest one applies to new runs,
    unless a rollout pins another: ADR 0031)."""


def overlays(app: App, actor: Actor, template_id: str) -> list[PlantOverlay]:
    """The newest overlay per plant of ``template_id``, by plant."""
    authz.require(actor, Permission.TEMPLATE_READ)
    with app.service.store.reader() as reader:
        published = reader.scoped(actor.tenant_id).overlays(template_id)
    newest: dict[str, PlantOverlay] = {}
    for found in published:  # by plant, newest first
        row = found.row
        kept = newest.get(row.plant)
        if kept is not None:
            newest[row.plant] = replace(kept, superseded=kept.superseded + 1)
            continue
        newest[row.plant] = PlantOverlay(
            row.plant, row.digest, row.params, row.source, found.published_at, 0
        )
    return list(newest.values())
