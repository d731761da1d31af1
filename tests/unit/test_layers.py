"""The layer contract (docs/adr/0035-the-store-owns-all-sql.md), checked on every module's
imports: a module imports only from its own layer or those below it, SQL (sqlalchemy, the
table definitions, the statements) lives in ``andon.store`` alone, and no package depends
on one that depends on it back.

What main broke when the contract was written is listed below, by name. The lists only
shrink: a new break fails, and so does an entry that no longer breaks anything (delete it).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first. A module belongs to the longest prefix that names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("errors", ("andon.errors",)),
    ("core", ("andon.core",)),
    ("governance", ("andon.governance",)),
    ("store and adapters", (
        "andon.store", "andon.actions", "andon.connectors", "andon.intake", "andon.webhooks",
        "andon.contracts", "andon.config", "andon.egress", "andon.observability",
    )),
    ("runtime", ("andon.runtime",)),
    ("read models", ("andon.analytics", "andon.export", "andon.reports", "andon.telemetry")),
    ("bootstrap", ("andon.bootstrap", "andon.testing")),  # the kit builds apps as bootstrap does
    ("shells", ("andon.api", "andon.web", "andon.cli")),
    ("tools", ("andon.tools",)),
)  # fmt: skip
SQL = ("sqlalchemy", "andon.store.schema", "andon.store.statements")

KNOWN_LAYER_BREAKS: set[tuple[str, str]] = set()
KNOWN_SQL_OUTSIDE_STORE = {
    "andon.tools.bench.dashboards", "andon.tools.demo.live", "andon.tools.demo.sim",
    "andon.tools.demo.stats",
}  # fmt: skip
KNOWN_PACKAGE_CYCLES: set[frozenset[str]] = set()


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((SRC / "andon").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


@cache
def imports_of(path: Path) -> frozenset[str]:
    """Absolute module names a file imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from a import b``: the module a.b when there is one, else a itself.
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if _is_module(name) else node.module)
    return frozenset(found)


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (rank, len(prefix))
    return None if best is None else best[0]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


Modules = list[tuple[str, Path]]


def layer_breaks(found_modules: Modules | None = None) -> set[tuple[str, str]]:
    """(module, what it imports from a higher layer), the latter cut to the prefix that
    names its layer, so one entry covers a module's imports of one package."""
    found = set()
    for module, path in found_modules or list(modules()):
        mine = layer_of(module)
        for imported in imports_of(path):
            theirs = layer_of(imported)
            if mine is None or theirs is None or theirs <= mine:
                continue
            prefix = max(
                (p for p in LAYERS[theirs][1] if _under(imported, p)), key=len, default=imported
            )
            found.add((module, prefix))
    return found


def sql_outside_store(found_modules: Modules | None = None) -> set[str]:
    return {
        module
        for module, path in found_modules or list(modules())
        if not _under(module, "andon.store")
        and any(_under(name, sql) for name in imports_of(path) for sql in SQL)
    }


def package_cycles() -> set[frozenset[str]]:
    """Sets of top-level packages (``andon.x``) that import each other, directly or not."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules():
        mine = ".".join(module.split(".")[:2])
        for imported in imports_of(path):
            if imported.startswith("andon."):
                theirs = ".".join(imported.split(".")[:2])
                if theirs != mine and (SRC / Path(*theirs.split("."))).exists():
                    graph[mine].add(theirs)
    return {c for c in _components(graph) if len(c) > 1}


def _components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components (Tarjan), small enough to recurse on."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            members = set()
            while True:
                top = stack.pop()
                members.add(top)
                if top == node:
                    break
            found.append(frozenset(members))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert [m for m, _ in modules() if m != "andon" and layer_of(m) is None] == []


def test_no_module_imports_from_a_higher_layer() -> None:
    found = layer_breaks()
    assert sorted(found - KNOWN_LAYER_BREAKS) == [], "new imports against the layers"
    assert sorted(KNOWN_LAYER_BREAKS - found) == [], "fixed: delete them from the known list"


def test_sql_lives_in_the_store_alone() -> None:
    found = sql_outside_store()
    assert sorted(found - KNOWN_SQL_OUTSIDE_STORE) == [], "SQL outside andon.store"
    assert sorted(KNOWN_SQL_OUTSIDE_STORE - found) == [], "fixed: delete them from the list"


def test_no_package_depends_on_one_that_depends_on_it() -> None:
    found = package_cycles()
    assert sorted(map(sorted, found - KNOWN_PACKAGE_CYCLES)) == []
    assert sorted(map(sorted, KNOWN_PACKAGE_CYCLES - found)) == []


def test_the_checker_sees_a_break(tmp_path: Path) -> None:
    """The checks read real import statements: a store-level module that imports the
    runtime and sqlalchemy would be caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from andon.runtime.service import Andon\nimport sqlalchemy\n", "utf-8")
    assert layer_breaks([("andon.store.bad", bad)]) == {("andon.store.bad", "andon.runtime")}
    assert sql_outside_store([("andon.runtime.bad", bad)]) == {"andon.runtime.bad"}
    assert sql_outside_store([("andon.store.bad", bad)]) == set()
