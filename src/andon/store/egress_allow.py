"""Rows of the ``egress_allow`` table: the networks a tenant's outbound calls may reach
although internal. Every function takes the tenant explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from andon.errors import StoreError
from andon.store import schema as s

_t = s.egress_allow


@dataclass(frozen=True, slots=True)
class AllowRow:
    tenant_id: str
    network: str
    reason: str
    added_by: str
    added_at: float


def read_allowed(conn: Connection, tenant: str) -> list[AllowRow]:
    rows = conn.execute(select(_t).where(_t.c.tenant_id == tenant).order_by(_t.c.network))
    return [_row(r) for r in rows]


def save_allowed(conn: Connection, row: AllowRow) -> None:
    """Insert the entry, or replace the reason of the one for that network."""
    values = {"reason": row.reason, "added_by": row.added_by, "added_at": row.added_at}
    done = conn.execute(
        update(_t)
        .where(_t.c.tenant_id == row.tenant_id, _t.c.network == row.network)
        .values(**values)
    )
    if done.rowcount == 0:
        conn.execute(insert(_t).values(tenant_id=row.tenant_id, network=row.network, **values))


def delete_allowed(conn: Connection, tenant: str, network: str) -> bool:
    done = conn.execute(delete(_t).where(_t.c.tenant_id == tenant, _t.c.network == network))
    return bool(done.rowcount)


def _row(found: Any) -> AllowRow:
    return AllowRow(found.tenant_id, found.network, found.reason, found.added_by, found.added_at)


class EgressAllowRows:
    """One tenant's egress allow-list (``tx.egress_allow``, ``reader.egress_allow``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def all(self) -> list[AllowRow]:
        return read_allowed(self._conn, self._tenant)

    def save(self, row: AllowRow) -> None:
        if row.tenant_id != self._tenant:
            raise StoreError(
                f"an allow-list entry of '{row.tenant_id}' written in '{self._tenant}'"
            )
        save_allowed(self._conn, row)

    def delete(self, network: str) -> bool:
        return delete_allowed(self._conn, self._tenant, network)
