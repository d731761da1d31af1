"""PostgreSQL store (psycopg 3, pooled): the same schema and statements as SQLite.

Many processes write at once here. Workers claim outbox rows with ``FOR UPDATE SKIP
LOCKED`` (in the claim statement), a fact's transaction locks its run row (``FOR UPDATE``)
so that two workers folding facts into one run queue instead of failing, and the snapshot
revision still guards every update.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from andon.errors import ConflictError, StoreError
from andon.store import migrations
from andon.store.prepared import PreparedSet
from andon.store.transaction import SqlReader, SqlTransaction

CHANNEL = "andon_work"
DURABLE_COMMITS = ("on", "remote_apply", "remote_write", "local")
"""``synchronous_commit`` values that flush the WAL locally before a commit returns (ADR
0022): only ``off`` acknowledges a commit a server crash can still lose."""

log = logging.getLogger(__name__)


class PostgresStore:
    concurrent_writers = True

    def __init__(self, url: str, *, pool_size: int = 8, allow_async_commit: bool = False) -> None:
        parsed = make_url(url)
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.url = parsed
        self.engine = create_engine(
            parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        # The hot path binds by position (%s): psycopg adapts a tuple with less work than
        # a dict it must reorder by name.
        positional: Callable[..., Dialect] = psycopg_dialect  # SQLAlchemy leaves it untyped
        self._prepared = PreparedSet(positional(paramstyle="format"))
        self._listener: _Listener | None = None
        try:
            with self.engine.connect() as conn:
                self.synchronous = str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())
                conn.rollback()  # end the read's transaction: the migrations begin their own
                self._check_durable(allow_async_commit)
                migrations.upgrade(conn, "postgresql")
        except DBAPIError as exc:
            raise StoreError(f"cannot open database {self.describe()}: {exc.orig}") from exc
        except StoreError:
            self.engine.dispose()
            raise

    def _check_durable(self, allowed: bool) -> None:
        """Refuse a server that acknowledges commits before they are on disk, unless the
        operator said so, and then say it loudly with the value found."""
        if self.synchronous in DURABLE_COMMITS:
            return
        what = f"PostgreSQL synchronous_commit is '{self.synchronous}' on {self.describe()}"
        if not allowed:
            raise StoreError(
                f"{what}: a commit Andon acknowledges could be lost in a crash. Set it to 'on' "
                "(e.g. ALTER DATABASE ... SET synchronous_commit = on), or set "
                "ANDON_ALLOW_ASYNC_COMMIT=1 to run anyway"
            )
        log.warning("%s (allowed by ANDON_ALLOW_ASYNC_COMMIT): the last commits can be lost", what)

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        try:
            with self.engine.begin() as conn:
                tx = SqlTransaction(conn, self._prepared)
                yield tx
                tx.flush()
                if tx.enqueued:  # delivered at commit, to every process that listens
                    conn.exec_driver_sql(f"NOTIFY {CHANNEL}")
        except IntegrityError as exc:
            raise ConflictError(f"conflicting write: {exc.orig}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc
        except psycopg.errors.IntegrityError as exc:  # from the hot path's raw cursor
            raise ConflictError(f"conflicting write: {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    @contextmanager
    def reader(self) -> Iterator[SqlReader]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield SqlReader(conn)
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever another process commits work (``LISTEN/NOTIFY``); polling
        stays the fallback if the listening connection drops."""
        if self._listener is None:
            self._listener = _Listener(self.url, wake)
            self._listener.start()

    def describe(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.engine.dispose()


class _Listener(threading.Thread):
    def __init__(self, url: URL, wake: Callable[[], None]) -> None:
        super().__init__(name="andon-listen", daemon=True)
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._wake = wake
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake()
            except psycopg.Error:
                self._stopping.wait(1.0)  # the server went away: retry, workers still poll

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)
