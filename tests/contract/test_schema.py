"""Migrations produce exactly the schema that ``andon.store.schema`` declares."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from andon.store import migrations, schema
from andon.store.sqlite import SqliteStore


def _describe(url: str) -> dict[str, object]:
    engine = create_engine(url)
    try:
        found = inspect(engine)
        out: dict[str, object] = {}
        for table in sorted(found.get_table_names()):
            if table == "sqlite_sequence":
                continue
            out[table] = {
                "columns": [
                    (c["name"], str(c["type"]).upper(), c["nullable"])
                    for c in found.get_columns(table)
                ],
                "pk": found.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in found.get_indexes(table)
                ),
                "unique": sorted(
                    tuple(u["column_names"]) for u in found.get_unique_constraints(table)
                ),
            }
        return out
    finally:
        engine.dispose()


def test_migrations_equal_the_declared_schema(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.db"
    SqliteStore(migrated).close()
    fresh = tmp_path / "fresh.db"
    engine = create_engine(f"sqlite:///{fresh}")
    schema.metadata.create_all(engine)
    engine.dispose()
    assert _describe(f"sqlite:///{migrated}") == _describe(f"sqlite:///{fresh}")


def test_migrations_are_numbered_without_gaps_and_applied_once(tmp_path: Path) -> None:
    versions = [v for v, _, _ in migrations.available()]
    assert versions == list(range(1, len(versions) + 1))
    path = tmp_path / "andon.db"
    SqliteStore(path).close()
    store = SqliteStore(path)  # opening again applies nothing twice
    with store.engine.connect() as conn:
        applied = [r[0] for r in conn.exec_driver_sql("SELECT version FROM schema_migrations")]
    store.close()
    assert applied == versions


def test_postgresql_migrations_equal_the_declared_schema() -> None:
    from andon.store.postgres import PostgresStore
    from pg_support import fresh_database

    with fresh_database() as migrated_url, fresh_database() as fresh_url:
        PostgresStore(migrated_url).close()
        engine = create_engine(fresh_url)
        schema.metadata.create_all(engine)
        engine.dispose()
        assert _describe(migrated_url) == _describe(fresh_url)
        again = PostgresStore(migrated_url)  # opening again applies nothing twice
        with again.engine.connect() as conn:
            applied = [r[0] for r in conn.exec_driver_sql("SELECT version FROM schema_migrations")]
        again.close()
        assert applied == [v for v, _, _ in migrations.available("postgresql")]
