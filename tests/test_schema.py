"""The two schemas are kept in step: the same migrations, and the same tables after them.

Each backend has its own numbered list (``storage/migrations.py`` for SQLite,
``storage/migrations_pg.py`` for PostgreSQL). Both lists must have the same versions and names,
and once each is applied to an empty database, both catalogs must show the same tables, columns
(in order, with the same nullability and kind of value), primary keys, unique keys, foreign keys
and indexes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from storage import migrations, migrations_pg
from storage.db import Database
from tests import postgres

Catalog = dict[str, Any]


def test_both_lists_have_the_same_versions_and_names() -> None:
    sqlite = [(m.version, m.name) for m in migrations.MIGRATIONS]
    postgresql = [(m.version, m.name) for m in migrations_pg.MIGRATIONS]
    assert sqlite == postgresql
    assert [v for v, _ in sqlite] == sorted({v for v, _ in sqlite})


def _kind(declared: str) -> str:
    """The rough kind of value a column holds: integer (SQLite's INTEGER, PostgreSQL's integer
    and bigint), real, text, or the declared type as it is."""
    declared = declared.lower()
    if "int" in declared:
        return "integer"
    if declared in ("real", "double precision", "float", "double"):
        return "real"
    if declared in ("text", "character varying", "varchar"):
        return "text"
    return declared


def sqlite_catalog(path: Path) -> Catalog:
    """Tables, columns, keys and indexes as SQLite's catalog has them."""
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        columns, primary, unique, foreign = {}, {}, set(), set()
        for table in tables:
            info = conn.execute(f"PRAGMA table_info({table})").fetchall()
            columns[table] = [
                (name, _kind(kind), bool(notnull or pk)) for _, name, kind, notnull, _, pk in info
            ]
            primary[table] = tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5])
            for _, index, is_unique, origin, _ in conn.execute(f"PRAGMA index_list({table})"):
                if is_unique and origin != "pk":
                    cols = [r[2] for r in conn.execute(f"PRAGMA index_info({index})")]
                    unique.add((table, tuple(cols)))
            for row in conn.execute(f"PRAGMA foreign_key_list({table})"):
                foreign.add((table, row[3], row[2], row[4], row[6].lower()))
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    return {
        "tables": tables,
        "columns": columns,
        "primary": primary,
        "unique": unique,
        "foreign": foreign,
        "indexes": indexes,
    }


def postgres_catalog(url: str, password: str | None) -> Catalog:
    """The same, from PostgreSQL's catalog."""
    import psycopg

    with psycopg.connect(url, password=password) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        columns: dict[str, list[tuple[str, str, bool]]] = {t: [] for t in tables}
        for table, name, kind, nullable in conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        ):
            columns[table].append((name, _kind(kind), nullable == "NO"))
        primary: dict[str, tuple[str, ...]] = {t: () for t in tables}
        unique = set()
        for table, cols, is_primary in conn.execute(
            "SELECT i.indrelid::regclass::text,"
            " array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)"
            "  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o),"
            " i.indisprimary FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace s ON s.oid = c.relnamespace"
            " WHERE s.nspname = 'public' AND i.indisunique"
        ):
            if is_primary:
                primary[table] = tuple(cols)
            else:
                unique.add((table, tuple(cols)))
        actions = {"c": "cascade", "a": "no action", "r": "restrict", "n": "set null"}
        foreign = {
            (table, column, target, target_column, actions[action])
            for table, column, target, target_column, action in conn.execute(
                "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text,"
                " t.attname, c.confdeltype::text FROM pg_constraint c"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
                " JOIN pg_attribute t ON t.attrelid = c.confrelid AND t.attnum = c.confkey[1]"
                " WHERE c.contype = 'f'"
            )
        }
        # Indexes made by CREATE INDEX, not those behind a PRIMARY KEY or UNIQUE constraint.
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public'"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            )
        }
    return {
        "tables": tables,
        "columns": columns,
        "primary": primary,
        "unique": unique,
        "foreign": foreign,
        "indexes": indexes,
    }


PARTS = ("tables", "columns", "primary", "unique", "foreign", "indexes")


def differences(sqlite: Catalog, postgresql: Catalog) -> list[str]:
    """Where two catalogs differ, part by part (empty when they are the same)."""
    return [part for part in PARTS if sqlite[part] != postgresql[part]]


async def test_after_every_migration_both_schemas_are_the_same(tmp_path: Path) -> None:
    """Both lists applied one migration at a time: after each, the same catalog."""
    server = postgres.server()
    fresh = server.empty()
    path = tmp_path / "schema.db"
    own, twins = migrations.MIGRATIONS, migrations_pg.MIGRATIONS
    try:
        for step in range(1, len(own) + 1):
            sqlite_db = await Database.open(path, own[:step])
            await sqlite_db.close()
            postgres_db = await Database.open(fresh.url, twins[:step], password=fresh.password)
            await postgres_db.close()
            sqlite = sqlite_catalog(path)
            postgresql = postgres_catalog(fresh.url, fresh.password)
            version = own[step - 1].version
            assert differences(sqlite, postgresql) == [], (version, sqlite, postgresql)
    finally:
        server.drop(fresh.name)
    # The comparison is not vacuous: every part has something in it at the end.
    assert "answers" in sqlite["tables"] and len(sqlite["indexes"]) > 10
    assert all(sqlite[part] for part in PARTS), [part for part in PARTS if not sqlite[part]]
    assert ("answers", "value", "text", False) in [
        (table, *column) for table, cols in sqlite["columns"].items() for column in cols
    ]


async def test_a_column_one_backend_lacks_is_found(tmp_path: Path) -> None:
    """The check itself: a migration on one side only (a column, an index, a nullability, a
    type) shows up as a difference."""
    server = postgres.server()
    extra = (
        "ALTER TABLE answers ADD COLUMN mood INTEGER; CREATE INDEX answers_mood ON answers (mood);"
    )
    changes = {
        "a type": (extra, extra.replace("INTEGER", "text"), {"columns"}),
        "only SQLite": (extra, "SELECT 1", {"columns", "indexes"}),
    }
    for name, (on_sqlite, on_postgresql, expected) in changes.items():
        fresh = server.empty()
        path = tmp_path / f"{name}.db"
        try:
            sqlite_db = await Database.open(
                path, (*migrations.MIGRATIONS, migrations.Migration(999, "x", on_sqlite))
            )
            await sqlite_db.close()
            postgres_db = await Database.open(
                fresh.url,
                (*migrations_pg.MIGRATIONS, migrations.Migration(999, "x", on_postgresql)),
                password=fresh.password,
            )
            await postgres_db.close()
            found = differences(sqlite_catalog(path), postgres_catalog(fresh.url, fresh.password))
        finally:
            server.drop(fresh.name)
        assert set(found) == expected, name


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/x.db", "data/x.db"),  # relative (to the config file)
        ("sqlite:////var/lib/x.db", "/var/lib/x.db"),  # absolute: four slashes
        ("x.db", "x.db"),  # a plain path
    ],
)
def test_sqlite_urls_name_files_as_sqlalchemy_writes_them(url: str, path: str) -> None:
    from storage.db import is_postgres, sqlite_path

    assert sqlite_path(url) == Path(path) and not is_postgres(url)
    assert is_postgres("postgresql://everystage@localhost/everystage")
