"""What the runtime needs from a SQL store, whichever database is behind it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy import Engine

from andon.store.transaction import SqlReader, SqlTransaction


class SqlStore(Protocol):
    engine: Engine
    concurrent_writers: bool
    """Whether writers run side by side (PostgreSQL) rather than one at a time (SQLite):
    then a write transaction that finds nothing costs no more than a read that probes."""
    synchronous: str
    """The durability setting in force: SQLite's ``synchronous``, PostgreSQL's
    ``synchronous_commit`` as the server reports it."""

    def transaction(self) -> AbstractContextManager[SqlTransaction]:
        """A write transaction; commits on success, rolls back on any error."""
        ...

    def reader(self) -> AbstractContextManager[SqlReader]:
        """A read-only snapshot."""
        ...

    def describe(self) -> str:
        """Where the data lives, for messages (never with a password)."""
        ...

    def close(self) -> None: ...
