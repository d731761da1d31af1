"""Hot-path statements compiled once to the driver's SQL and run on the raw DB-API cursor.

The statements stay written in SQLAlchemy Core (one definition for every dialect); only
their execution skips SQLAlchemy's per-call machinery, which cost more CPU than the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


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
        self.execute(cursor, params)
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
