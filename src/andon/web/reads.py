"""Reads the service has no method for yet: a template's plant overlays. Authorized like
every template read (``template.read``) and scoped to the actor's tenant; a candidate to
move into ``runtime`` once another shell needs it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from andon.bootstrap import App
from andon.core.json import JsonObject
from andon.governance import authz
from andon.governance.authz import Permission
from andon.governance.identity import Actor
from andon.store import schema as s


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
    table, numbered = s.overlays, s.overlay_revisions
    with app.service.store.reader() as reader:
        rows = reader.conn.execute(
            select(table.c.digest, table.c.params, table.c.source, numbered.c.plant,
                   numbered.c.published_at)
            .join(numbered, (numbered.c.tenant_id == table.c.tenant_id)
                  & (numbered.c.digest == table.c.digest))
            .where(numbered.c.tenant_id == actor.tenant_id,
                   numbered.c.template_id == template_id)
            .order_by(numbered.c.plant, numbered.c.revision.desc())
        ).all()  # fmt: skip
    newest: dict[str, PlantOverlay] = {}
    for r in rows:
        if r.plant in newest:
            found = newest[r.plant]
            newest[r.plant] = PlantOverlay(
                found.plant, found.digest, found.params, found.source, found.published_at,
                found.superseded + 1,
            )  # fmt: skip
            continue
        newest[r.plant] = PlantOverlay(
            r.plant, r.digest, json.loads(r.params), r.source, r.published_at, 0
        )
    return list(newest.values())
