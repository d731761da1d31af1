"""Hot-path statements compiled once to the driver's SQL and run on the raw DB-API cursor.

The statements stay written in SQLAlchemy Core (one definition for every dialect); only
their execution skips SQLAlchemy's per-call machinery, which cost more CPU than the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.engine import Dialect, default
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from andon.errors import StaleRunError


class Cursor(Protocol):
    rowcount: int
    lastrowid: int | None
    description: Any

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Prepared:
    """One Core statement compiled for one dialect, with how to lay out its parameters:
    a tuple in placeholder order (SQLite's ``?``) or a dict by name (psycopg's ``%(x)s``)."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, columns: list[str] | None = None
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        # compiled name -> (the key callers pass, the value fixed in the statement)
        sources = {name: (bind.key, bind.value) for bind, name in compiled.bind_names.items()}
        self.positional = bool(compiled.positional)
        order = compiled.positiontup if self.positional else list(sources)
        self.names: tuple[str, ...] = tuple(order or ())
        self._sources = sources

    def values(self, params: Mapping[str, object]) -> tuple[object, ...] | dict[str, object]:
        picked = []
        for name in self.names:
            key, fixed = self._sources.get(name, (name, None))
            picked.append(params.get(key, fixed))
        if self.positional:
            return tuple(picked)
        return dict(zip(self.names, picked, strict=True))

    def execute(self, cursor: Cursor, params: Mapping[str, object]) -> Cursor:
        cursor.execute(self.sql, self.values(params))
        return cursor

    def rows(self, cursor: Cursor, params: Mapping[str, object]) -> list[dict[str, Any]]:
        return read(self.execute(cursor, params))


def read(cursor: Cursor) -> list[dict[str, Any]]:
    """The rows of the statement the cursor ran, by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PreparedSet:
    """Lazily compiled statements for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._cache: dict[tuple[int, tuple[str, ...]], Prepared] = {}

    def get(self, statement: ClauseElement, params: Mapping[str, object]) -> Prepared:
        """The statement compiled for exactly these parameter names (``b_*`` are bound in
        WHERE clauses; the others are the columns an INSERT or UPDATE sets)."""
        key = (id(statement), tuple(params))
        found = self._cache.get(key)
        if found is None:
            columns = [name for name in params if not name.startswith("b_")]
            found = self._cache[key] = Prepared(statement, self.dialect, columns)
        return found

    def execute(
        self, cursor: Cursor, statement: ClauseElement, params: Mapping[str, object]
    ) -> Cursor:
        return self.get(statement, params).execute(cursor, params)

    def rows(
        self, cursor: Cursor, statement: ClauseElement, params: Mapping[str, object]
    ) -> list[dict[str, Any]]:
        return self.get(statement, params).rows(cursor, params)


class Pipeline(Protocol):
    """What ``WriteBehind`` needs of a driver connection with a pipeline mode (psycopg)."""

    def cursor(self) -> Any: ...
    def pipeline(self) -> AbstractContextManager[Any]: ...


class WriteBehind:
    """Writes nobody reads the result of at once, held back and sent with the next statement
    that needs an answer, or at commit.

    On PostgreSQL they go in pipeline mode: the held writes and that statement travel in one
    round trip instead of one each, which is what the fact path spends most on under load.
    Writes that must touch exactly one row (a guarded run update) are checked when they
    come back; a miss raises ``StaleRunError`` and the transaction rolls back, as before.
    """

    def __init__(self, cursor: Cursor, pipeline: Pipeline | None) -> None:
        self._cursor = cursor
        self._pipeline = pipeline
        self._held: list[_Held] = []

    def hold(
        self,
        prepared: Prepared,
        params: Mapping[str, object],
        stale: str = "",
        on_row: Callable[[Any], None] | None = None,
    ) -> None:
        """Queue a write; ``stale`` (the error) when it must change exactly one row;
        ``on_row`` receives the row it returns (``RETURNING``) once it has been sent.
        Without a pipeline (SQLite, in process) there is no round trip to save: it runs now."""
        write = _Held(prepared.sql, prepared.values(params), stale, on_row)
        if self._pipeline is None:
            self._cursor.execute(write.sql, write.values)
            write.answer(self._cursor)
        else:
            self._held.append(write)

    def run(self, prepared: Prepared, params: Mapping[str, object]) -> Cursor:
        """Send what is held, then this statement; returns the cursor holding its result."""
        if not self._held:
            return prepared.execute(self._cursor, params)
        held, self._held = self._held, []
        assert self._pipeline is not None  # only a pipeline holds writes back
        answers: list[tuple[_Held, Cursor]] = []
        with self._pipeline.pipeline():
            for write in held:
                own = write.stale or write.on_row is not None
                cursor = self._pipeline.cursor() if own else self._cursor
                cursor.execute(write.sql, write.values)
                if own:
                    answers.append((write, cursor))
            answer: Cursor = self._pipeline.cursor()
            answer.execute(prepared.sql, prepared.values(params))
        for write, cursor in answers:
            write.answer(cursor)
        return answer

    def flush(self) -> None:
        """Send everything held (before commit, or before SQL that bypasses this)."""
        if self._held:
            self.run(_NOTHING, {})


@dataclass(frozen=True, slots=True)
class _Held:
    sql: str
    values: tuple[object, ...] | dict[str, object]
    stale: str
    on_row: Callable[[Any], None] | None

    def answer(self, cursor: Cursor) -> None:
        if self.stale and cursor.rowcount != 1:
            raise StaleRunError(self.stale)
        if self.on_row is not None:
            self.on_row(cursor.fetchall()[0])


_NOTHING = Prepared(text("SELECT 1"), default.DefaultDialect())
