"""SQLite store: WAL, ``BEGIN IMMEDIATE`` write transactions, power-loss-safe by default.

SQLite has one writer at a time; ``BEGIN IMMEDIATE`` takes the write lock up front so that
a transaction never fails half-way on a read-to-write upgrade, and ``busy_timeout`` makes
other processes queue for it instead of failing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from andon.errors import AndonError, ConflictError, StoreError
from andon.store import migrations
from andon.store.prepared import PreparedSet
from andon.store.transaction import SqlReader, SqlTransaction

SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL", "OFF")
POWER_LOSS_SAFE = ("FULL", "EXTRA")

log = logging.getLogger(__name__)


class SqliteStore:
    """A SQLite database file holding the whole Andon schema."""

    concurrent_writers = False

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        mode = synchronous.upper()
        if mode not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self.synchronous = mode
        if mode not in POWER_LOSS_SAFE:
            log.warning(
                "SQLite synchronous=%s on %s (ANDON_SQLITE_SYNCHRONOUS): the last commits can "
                "be lost on power loss",
                mode,
                self.path,
            )
        self.engine: Engine = create_engine(
            f"sqlite+pysqlite:///{self.path}",
            poolclass=QueuePool,
            pool_size=4,
            max_overflow=4,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        self._prepared = PreparedSet(self.engine.dialect)
        # Writers of this process queue here and wake as soon as the lock is free; SQLite's
        # busy handler would sleep-poll in steps of milliseconds. Other processes still
        # queue on the database lock through busy_timeout.
        self._write_lock = threading.Lock()
        self._writer: Connection | None = None  # one connection serves every write, under the lock
        event.listen(self.engine, "connect", self._on_connect)
        event.listen(self.engine, "begin", self._on_begin)
        try:
            with self.engine.connect() as conn:
                migrations.upgrade(conn)
        except DBAPIError as exc:
            raise StoreError(f"cannot open database {self.path}: {exc.orig}") from exc

    def _on_connect(self, dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={self.synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @staticmethod
    def _on_begin(conn: Connection) -> None:
        # Readers take a snapshot (deferred); writers take the write lock up front.
        # Straight on the driver connection: SQLAlchemy's execute path cost more than BEGIN.
        read_only = conn.get_execution_options().get("andon_read_only", False)
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        """A write transaction; commits on success, rolls back on any error."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self.engine.connect()
            conn = self._writer
            try:
                with conn.begin():
                    tx = SqlTransaction(conn, self._prepared)
                    yield tx
                    tx.flush()
            except IntegrityError as exc:
                raise _integrity_error(exc.orig) from exc
            except DBAPIError as exc:
                self._drop_writer()  # it may be unusable; the next write opens a fresh one
                raise StoreError(f"database error: {exc.orig}") from exc
            except sqlite3.IntegrityError as exc:  # from the hot path's raw cursor
                raise _integrity_error(exc) from exc
            except sqlite3.Error as exc:
                self._drop_writer()
                raise StoreError(f"database error: {exc}") from exc

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.invalidate()
            writer.close()

    @contextmanager
    def reader(self) -> Iterator[SqlReader]:
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(andon_read_only=True)
                with conn.begin():
                    yield SqlReader(conn)
        except DBAPIError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    def raw_connection(self) -> sqlite3.Connection:
        """A plain sqlite3 connection with the same settings (benchmarks, tests)."""
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self._on_connect(conn, None)
        return conn

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()


def _integrity_error(cause: BaseException | None) -> AndonError:
    """A refused write: the journal's append-only guard (migration 0015) is a database
    error, as on PostgreSQL; a constraint is a conflict between writers."""
    if str(cause).startswith("andon: "):
        return StoreError(f"database error: {cause}")
    return ConflictError(f"conflicting write: {cause}")
