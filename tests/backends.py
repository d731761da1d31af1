"""The contract suite runs on both stores: fixtures take ``backend`` from ``BACKENDS`` and
inspect or tamper with the database through the store's own connection, not a driver of
one backend."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from andon import bootstrap, testing
from andon.config import Settings
from pg_support import fresh_database

BACKENDS = ("sqlite", "postgresql")


@contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    """A new, empty database of ``backend``: None for SQLite (the kit then makes a file in
    the test's folder), else the URL of a PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield None
        return
    with fresh_database() as url:
        yield url


@contextmanager
def settings_for(backend: str, tmp_path: Path, **extra: Any) -> Iterator[Settings]:
    """Settings on a new, empty database of ``backend``; keys live in ``tmp_path``."""
    with database_url(backend) as url:
        yield testing.settings(tmp_path, url, **extra)


def rows(app: bootstrap.App, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run a read query (named ``:params``) on the app's own database."""
    with app.service.store.reader() as reader:
        return [tuple(r) for r in reader.conn.execute(text(sql), params)]


def tamper(app: bootstrap.App, sql: str, params: Mapping[str, Any]) -> None:
    """Write behind Andon's back, as an attacker with database access would: on PostgreSQL
    a superuser, who can switch the journal's append-only triggers off; on SQLite whoever
    can write the file, who can drop them (and puts them back to cover their tracks)."""
    with app.service.store.transaction() as tx:
        if tx.conn.dialect.name == "postgresql":
            tx.conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            tx.conn.execute(text(sql), dict(params))
            return
        guards = tx.conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND (name LIKE '%no_update' OR name LIKE '%no_delete')"
        ).all()
        for name, _ in guards:
            tx.conn.exec_driver_sql(f"DROP TRIGGER {name}")
        tx.conn.execute(text(sql), dict(params))
        for _, create in guards:
            tx.conn.exec_driver_sql(create)
