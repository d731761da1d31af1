"""Reads of a template's plant overlays: every one ever published is kept, by digest."""

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
    """By plant, newest first within a plant (the newest applies to new runs)."""
    table = s.overlays
    query = (
        select(table)
        .where(table.c.tenant_id == tenant, table.c.template_id == template_id)
        .order_by(table.c.plant, table.c.published_at.desc(), table.c.digest)
    )
    if plant is not None:
        query = query.where(table.c.plant == plant)
    return [
        PublishedOverlay(rows.overlay_row(r._mapping), float(r.published_at))
        for r in conn.execute(query)
    ]
