"""Which runs a migration considers (ADR 0032)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from andon.store import schema as s


def unended_runs(
    conn: Connection, tenant: str, template_id: str, version: int, plant: str | None
) -> list[str]:
    """Ids of the runs of ``template_id@version`` that have not ended, oldest first."""
    r = s.runs
    query = select(r.c.run_id).where(
        r.c.tenant_id == tenant,
        r.c.template_id == template_id,
        r.c.template_version == version,
        r.c.status.in_(("created", "running", "incident")),
    )
    if plant is not None:
        query = query.where(r.c.plant == plant)
    return [str(row[0]) for row in conn.execute(query.order_by(r.c.created_at, r.c.run_id))]


class MigrationCandidates:
    """The runs a migration considers, of one tenant (``reader.migration_candidates``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def unended(self, template_id: str, version: int, plant: str | None) -> list[str]:
        return unended_runs(self._conn, self._tenant, template_id, version, plant)
