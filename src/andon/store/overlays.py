"""Reads of a template's plant overlays: every publication, numbered per plant."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from andon.store import rows
from andon.store import schema as s
from andon.store.base import OverlayRow


@dataclass(frozen=True, slots=True)
class PublishedOverlay:
    row: OverlayRow
    published_at: float


def read_overlays(
    conn: Connection, tenant: str, template_id: str, plant: str | None = None
) -> list[PublishedOverlay]:
    """Every publication (revision, ADR 0031) by plant, newest first within a plant (the
    newest applies to new runs unless a rollout pins another); content published again
    appears again."""
    table, numbered = s.overlays, s.overlay_revisions
    query = (
        select(table, numbered.c.published_at.label("revised_at"))
        .join(
            numbered,
            (numbered.c.tenant_id == table.c.tenant_id) & (numbered.c.digest == table.c.digest),
        )
        .where(numbered.c.tenant_id == tenant, numbered.c.template_id == template_id)
        .order_by(numbered.c.plant, numbered.c.revision.desc())
    )
    if plant is not None:
        query = query.where(numbered.c.plant == plant)
    return [
        PublishedOverlay(rows.overlay_row(r._mapping), float(r.revised_at))
        for r in conn.execute(query)
    ]
