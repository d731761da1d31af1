"""Building blocks of the dashboard statements (``store/analytics.py``): how a window and a
set of sites become conditions, and how a statement runs without SQLAlchemy's per-row cost."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Connection,
    FromClause,
    Table,
    and_,
    exists,
    or_,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

from andon.errors import StoreError
from andon.store import schema as s

Sites = frozenset[str] | None
"""The plants an actor may read; None: every plant of the tenant."""
Owners = Mapping[str, frozenset[str]]
"""Step id -> the ids of the tenant's templates that have a step of that id."""


class Window(Protocol):
    """Which runs and facts a dashboard covers (``andon.analytics.Window`` is one). Times
    are UTC epoch seconds; ``since`` is inclusive and ``until`` exclusive."""

    @property
    def since(self) -> float | None: ...
    @property
    def until(self) -> float | None: ...
    @property
    def template_id(self) -> str | None: ...
    @property
    def plant(self) -> str | None: ...


class Statement:
    """A query compiled once and run on the driver's cursor: building SQLAlchemy rows cost
    more than the query itself for the ~10^5 values a dashboard reads. ``bindparam``s with
    a default name the values that change from one run to the next."""

    def __init__(self, conn: Connection, query: ClauseElement) -> None:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        assert isinstance(compiled, SQLCompiler)
        self._conn = conn
        self._sql = str(compiled)
        self._defaults = dict(compiled.params)
        self._order = list(compiled.positiontup or ()) if compiled.positional else None
        self._binary = conn.dialect.name == "postgresql"

    def rows(self, **values: object) -> list[tuple[Any, ...]]:
        params = {**self._defaults, **values}
        args = tuple(params[n] for n in self._order) if self._order is not None else params
        driver = self._conn.dialect.loaded_dbapi
        raw = self._conn.connection.driver_connection
        assert raw is not None
        try:
            # psycopg's binary format decodes numbers faster than text; sqlite3 has no choice.
            cursor = raw.cursor(binary=True) if self._binary else raw.cursor()
            try:
                cursor.execute(self._sql, args)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except driver.Error as exc:
            raise StoreError(f"database error: {exc}") from exc

    def floats(self, **values: object) -> list[float]:
        """The first column of every row, as floats (NULLs left out)."""
        return [float(row[0]) for row in self.rows(**values) if row[0] is not None]


@contextmanager
def second_connection(conn: Connection) -> Iterator[Connection]:
    """A second read-only connection to the same database, for a query that runs at the same
    time as one on ``conn`` (its snapshot is taken a moment later). Both drivers let other
    threads run while the database works."""
    try:
        with conn.engine.connect() as other:
            # The SQLite store begins a transaction with this option as a plain (deferred)
            # read, never taking the write lock; PostgreSQL ignores it.
            other = other.execution_options(andon_read_only=True)
            with other.begin():
                if other.dialect.name == "postgresql":
                    # Two connections already keep two cores busy: parallel workers would
                    # compete with them (and a parallel aggregate adds floats in an order
                    # that changes from one call to the next).
                    other.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
                yield other
    except DBAPIError as exc:
        raise StoreError(f"database error: {exc.orig}") from exc


def between(column: ColumnElement[Any], window: Window) -> list[ColumnElement[bool]]:
    """``since <= column < until``, for the bounds the window has."""
    found = []
    if window.since is not None:
        found.append(column >= float(window.since))
    if window.until is not None:
        found.append(column < float(window.until))
    return found


def plant_filters(
    plant: ColumnElement[str], window: Window, sites: Sites
) -> list[ColumnElement[bool]]:
    found = []
    if window.plant is not None:
        found.append(plant == window.plant)
    if sites is not None:
        found.append(plant.in_(sorted(sites)))
    return found


def run_filters(runs: Table, window: Window, sites: Sites) -> list[ColumnElement[bool]]:
    """The window's template and plant, and the sites, on the ``runs`` table."""
    found = plant_filters(runs.c.plant, window, sites)
    if window.template_id is not None:
        found.append(runs.c.template_id == window.template_id)
    return found


def facts(events: Table, window: Window, sites: Sites) -> tuple[FromClause, list[Any]]:
    """The journal rows in the window, and the conditions on them. Journal rows name
    neither template nor plant: when the window or the sites ask for those, the rows are
    joined to their runs (one index lookup per row; a join costs half what EXISTS does)."""
    r = s.runs
    on_run = run_filters(r, window, sites)
    found: list[Any] = between(events.c.at, window)
    if not on_run:
        return events, found
    joined = events.join(
        r, and_(r.c.tenant_id == events.c.tenant_id, r.c.run_id == events.c.run_id)
    )
    return joined, found + on_run


def task_template(window: Window, owners: Owners) -> list[ColumnElement[bool]]:
    """Tasks of ``window.template_id``: by the ids of its approval steps (``owners`` of the
    approval steps), and through the task's run for ids that other templates share or that
    no published template has."""
    if window.template_id is None:
        return []
    t, r = s.tasks, s.runs.alias("task_run")
    own = sorted(step for step, ids in owners.items() if ids == {window.template_id})
    others = sorted(step for step, ids in owners.items() if window.template_id not in ids)
    through_run = (
        exists()
        .where(
            r.c.tenant_id == t.c.tenant_id,
            r.c.run_id == t.c.run_id,
            r.c.template_id == window.template_id,
        )
        .correlate(t)
    )
    return [or_(t.c.step.in_(own), and_(t.c.step.not_in(own + others), through_run))]


class FirstNoteStep(FunctionElement[str]):
    """The step of the first note in a journal row's trace, by string search rather than
    parsing: the trace is canonical JSON (sorted keys, no spaces) and step ids are
    ``[a-z][a-z0-9_]*``, so the first ``"step":"`` with bare quotes is a key (quotes in
    values are escaped) and, for the notes that end a wait (received, timed_out, elapsed:
    the first note's keys sort before "step", their values are scalars), it is the first
    note's. Parsing the JSON cost twice as much."""

    inherit_cache = True
    type = Text()


_STEP_KEY = '\'"step":"\''


@compiles(FirstNoteStep)
def _first_note_step_sqlite(element: FirstNoteStep, compiler: SQLCompiler, **kw: Any) -> str:
    (trace,) = list(element.clauses)
    text = compiler.process(trace, **kw)
    rest = f"substr({text}, instr({text}, {_STEP_KEY}) + 8)"
    return f"substr({rest}, 1, instr({rest}, '\"') - 1)"


@compiles(FirstNoteStep, "postgresql")
def _first_note_step_pg(element: FirstNoteStep, compiler: SQLCompiler, **kw: Any) -> str:
    (trace,) = list(element.clauses)
    return f"split_part(split_part({compiler.process(trace, **kw)}, {_STEP_KEY}, 2), '\"', 1)"
