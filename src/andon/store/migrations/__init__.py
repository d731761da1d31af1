"""Numbered SQL migrations, applied in order and recorded in ``schema_migrations``."""

from __future__ import annotations

import re
import time
from importlib import resources

from sqlalchemy import Connection, insert

from andon.store.schema import schema_migrations

_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_BOOKKEEPING = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at FLOAT NOT NULL)"
)


def available(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped for ``dialect``, in order."""
    folder = resources.files(__package__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found)


def upgrade(conn: Connection, dialect: str = "sqlite") -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction."""
    with conn.begin():
        conn.exec_driver_sql(_BOOKKEEPING)
        applied = {row[0] for row in conn.exec_driver_sql("SELECT version FROM schema_migrations")}
    done = []
    for version, name, sql in available(dialect):
        if version in applied:
            continue
        with conn.begin():
            for statement in _statements(sql, quoted=dialect == "postgresql"):
                conn.exec_driver_sql(statement)
            conn.execute(
                insert(schema_migrations).values(version=version, name=name, applied_at=time.time())
            )
        done.append(version)
    return done


def _statements(sql: str, quoted: bool = True) -> list[str]:
    """Statements split at ``;``, except inside ``$$``-quoted bodies: PL/pgSQL functions
    (the ``$$`` kept, ``quoted``) or SQLite trigger bodies (the ``$$`` dropped)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    found, current = [], ""
    for index, piece in enumerate("\n".join(lines).split("$$")):
        if index % 2:  # inside a $$ body: kept whole
            current += f"$${piece}$$" if quoted else piece
            continue
        first, *rest = piece.split(";")
        current += first
        for part in rest:  # each ; ends the statement so far
            found.append(current)
            current = part
    return [part.strip() for part in [*found, current] if part.strip()]
