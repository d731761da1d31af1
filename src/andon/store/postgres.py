"""PostgreSQL store (psycopg 3, pooled): the same schema and statements as SQLite.

Many processes write at once here. Workers claim outbox rows with ``FOR UPDATE SKIP
LOCKED`` (in the claim statement), a fact's transaction locks its run row (``FOR UPDATE``)
so that two workers folding facts into one run queue instead of failing, and the snapshot
revision still guards every update.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from andon.errors import ConflictError, StoreError
from andon.store import migrations
from andon.store.prepared import PreparedSet
from andon.store.transaction import SqlReader, SqlTransaction


class PostgresStore:
    synchronous = "on"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.engine = create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        self._prepared = PreparedSet(self.engine.dialect)
        try:
            with self.engine.connect() as conn:
                migrations.upgrade(conn, "postgresql")
        except DBAPIError as exc:
            raise StoreError(f"cannot open database {self.describe()}: {exc.orig}") from exc

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        try:
            with self.engine.begin() as conn:
                yield SqlTransaction(conn, self._prepared)
        except IntegrityError as exc:
            raise ConflictError(f"conflicting write: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    @contextmanager
    def reader(self) -> Iterator[SqlReader]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield SqlReader(conn)
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
