"""Rows of the ``connections`` table, and every column that holds values sealed with the
secret box (so that a key rotation can seal them all again).

Connection functions take the tenant explicitly (a scoped transaction's or reader's
``tenant``), so none of them can reach another tenant's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update

from andon.core.json import JsonObject
from andon.errors import StoreError
from andon.store import schema as s

_c = s.connections


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    tenant_id: str
    name: str
    kind: str
    settings: JsonObject
    sealed: str = field(repr=False)
    """The secrets, sealed with the secret box (never in clear)."""
    updated_by: str
    created_at: float
    updated_at: float


def read_connection(conn: Connection, tenant: str, name: str) -> ConnectionRow | None:
    found = conn.execute(select(_c).where(_c.c.tenant_id == tenant, _c.c.name == name)).first()
    return None if found is None else _row(found)


def read_connections(conn: Connection, tenant: str) -> list[ConnectionRow]:
    rows = conn.execute(select(_c).where(_c.c.tenant_id == tenant).order_by(_c.c.name))
    return [_row(r) for r in rows]


def save_connection(conn: Connection, row: ConnectionRow) -> None:
    """Insert the connection, or replace the one of that name (keeping ``created_at``)."""
    values = {
        "kind": row.kind,
        "settings": json.dumps(row.settings, sort_keys=True),
        "secrets": row.sealed,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }
    done = conn.execute(
        update(_c).where(_c.c.tenant_id == row.tenant_id, _c.c.name == row.name).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(_c).values(
                tenant_id=row.tenant_id, name=row.name, created_at=row.created_at, **values
            )
        )


def delete_connection(conn: Connection, tenant: str, name: str) -> bool:
    done = conn.execute(delete(_c).where(_c.c.tenant_id == tenant, _c.c.name == name))
    return bool(done.rowcount)


def _row(found: Any) -> ConnectionRow:
    return ConnectionRow(
        found.tenant_id, found.name, found.kind, json.loads(found.settings), found.secrets,
        found.updated_by, found.created_at, found.updated_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SealedColumn:
    """A column of values sealed with the secret box; each is sealed for the purpose
    ``<kind>:<tenant>/<row id>`` (see ``secretbox.purpose``)."""

    table: Table
    row_id: str
    column: str
    kind: str


SEALED = (
    SealedColumn(s.webhook_sources, "source_id", "secrets", "webhook-source"),
    SealedColumn(s.webhook_subscriptions, "subscription_id", "secret", "webhook-subscription"),
    SealedColumn(_c, "name", "secrets", "connection"),
)
"""Every sealed column: a new one must be added here, or rotation leaves it behind."""


def sealed_values(
    conn: Connection, *, lock: bool = False
) -> Iterator[tuple[SealedColumn, str, str, str]]:
    """(column, tenant, row id, sealed value) of every sealed value, of every tenant;
    ``lock`` takes the rows for update (on PostgreSQL; SQLite's writer holds the database)."""
    for sealed in SEALED:
        t = sealed.table
        query = select(t.c.tenant_id, t.c[sealed.row_id], t.c[sealed.column]).order_by(
            t.c.tenant_id, t.c[sealed.row_id]
        )
        for tenant, row_id, token in conn.execute(query.with_for_update() if lock else query):
            yield sealed, tenant, row_id, token


def write_sealed(
    conn: Connection, sealed: SealedColumn, tenant: str, row_id: str, token: str
) -> None:
    t = sealed.table
    conn.execute(
        update(t)
        .where(t.c.tenant_id == tenant, t.c[sealed.row_id] == row_id)
        .values({sealed.column: token})
    )


class ConnectionRows:
    """One tenant's named connections (``tx.connections``, ``reader.connections``)."""

    def __init__(self, conn: Connection, tenant: str) -> None:
        self._conn = conn
        self._tenant = tenant

    def get(self, name: str) -> ConnectionRow | None:
        return read_connection(self._conn, self._tenant, name)

    def all(self) -> list[ConnectionRow]:
        return read_connections(self._conn, self._tenant)

    def save(self, row: ConnectionRow) -> None:
        if row.tenant_id != self._tenant:
            raise StoreError(f"a connection of '{row.tenant_id}' written in '{self._tenant}'")
        save_connection(self._conn, row)

    def delete(self, name: str) -> bool:
        return delete_connection(self._conn, self._tenant, name)


class InstallationSecrets:
    """Every tenant's sealed values, for re-sealing under a new key (installation-wide)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def sealed(self, *, lock: bool = False) -> list[tuple[SealedColumn, str, str, str]]:
        return list(sealed_values(self._conn, lock=lock))

    def reseal(self, sealed: SealedColumn, tenant: str, row_id: str, token: str) -> None:
        write_sealed(self._conn, sealed, tenant, row_id, token)
