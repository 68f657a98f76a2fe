"""Moving a project between databases: SQLite to PostgreSQL and back (``everystage migrate-db``).

Both schemas are the same tables, columns and keys (tests/test_schema.py), so a copy is every
table's rows in turn, parents before children (foreign keys), ids kept. It is recorded in the
target's ``transfers`` table: started before the first row is written, finished only after
every table's row count and checksum (SHA-256 over its rows in primary-key order) read back
from the target equal the source's. Until then the target is a half-finished copy, and
:func:`refuse_unfinished` (called when the bot or a command opens it) refuses to use it. Run the
copy again to start over: an unfinished copy's rows are deleted first. A target that already
holds a project is never written to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from storage.db import Database, Transaction, utc_text

# Bookkeeping of each database itself (its migrations, copies, live workers and who holds
# which chat), not the project's data.
NOT_COPIED = frozenset({"schema_migrations", "transfers", "workers", "chat_leases"})
BATCH = 2000


class TransferError(Exception):
    """The copy cannot be made, or does not match its source; the message says why."""


class HalfCopied(Exception):
    """The database is a copy that did not finish: using it would lose data."""


@dataclass(frozen=True)
class Copied:
    """One table as copied: its row count and checksum, equal in source and target."""

    table: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # ordered by these for the checksum
    parents: frozenset[str]


async def _tables(tx: Transaction, dialect: str) -> dict[str, _Table]:
    """Every table with its columns, primary key and the tables its foreign keys name."""
    found: dict[str, _Table] = {}
    if dialect == "sqlite":
        names = [
            r[0]
            for r in await tx.all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for name in names:
            info = await tx.all("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", (name,))
            parents = await tx.all('SELECT "table" FROM pragma_foreign_key_list(?)', (name,))
            key = tuple(r[0] for r in sorted((r for r in info if r[1]), key=lambda r: r[1]))
            found[name] = _Table(
                name,
                tuple(r[0] for r in info),
                key or tuple(r[0] for r in info),
                frozenset(r[0] for r in parents) - {name},
            )
        return found
    rows = await tx.all(
        "SELECT c.relname, a.attname, a.attnum FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
        " WHERE c.relkind = 'r' AND n.nspname = current_schema() ORDER BY c.relname, a.attnum"
    )
    columns: dict[str, list[str]] = {}
    for row in rows:
        columns.setdefault(row[0], []).append(row[1])
    keys: dict[str, list[str]] = {}
    for row in await tx.all(
        "SELECT c.relname, a.attname FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indisprimary AND n.nspname = current_schema()"
        " ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)"
    ):
        keys.setdefault(row[0], []).append(row[1])
    parents: dict[str, set[str]] = {}
    for row in await tx.all(
        "SELECT child.relname, parent.relname FROM pg_constraint k"
        " JOIN pg_class child ON child.oid = k.conrelid"
        " JOIN pg_class parent ON parent.oid = k.confrelid"
        " JOIN pg_namespace n ON n.oid = k.connamespace"
        " WHERE k.contype = 'f' AND n.nspname = current_schema()"
    ):
        parents.setdefault(row[0], set()).add(row[1])
    for name, cols in columns.items():
        found[name] = _Table(
            name,
            tuple(cols),
            tuple(keys.get(name) or cols),
            frozenset(parents.get(name, set())) - {name},
        )
    return found


def _in_order(tables: dict[str, _Table]) -> list[_Table]:
    """Parents before children; otherwise by name, so every run copies in the same order."""
    done: list[_Table] = []
    placed: set[str] = set()
    waiting = sorted(tables)
    while waiting:
        ready = [
            t for t in waiting if tables[t].parents <= placed | (tables[t].parents - set(tables))
        ]
        if not ready:
            raise TransferError(f"foreign keys go round in a circle among: {', '.join(waiting)}")
        for name in ready:
            done.append(tables[name])
            placed.add(name)
        waiting = [t for t in waiting if t not in placed]
    return done


def _canonical(value: object) -> bytes:
    """A value as both databases give it back (ints, text, floats, bytes, None) in bytes."""
    if value is None:
        return b"\x00N"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"\x00i" + str(value).encode()
    if isinstance(value, float):
        return b"\x00f" + repr(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return b"\x00b" + bytes(value)
    return b"\x00s" + str(value).encode("utf-8")


async def _summary(db: Database, table: _Table) -> tuple[int, str]:
    """Row count and checksum of a table, its rows read in primary-key order."""
    digest = hashlib.sha256()
    count = 0
    order = ", ".join(f'"{c}"' for c in table.key)
    cols = ", ".join(f'"{c}"' for c in table.columns)
    async with db.read() as tx:
        async for batch in tx.batches(f'SELECT {cols} FROM "{table.name}" ORDER BY {order}'):
            for row in batch:
                count += 1
                digest.update(b"\x01".join(_canonical(row[i]) for i in range(len(table.columns))))
                digest.update(b"\x02")
    return count, digest.hexdigest()


async def unfinished(db: Database) -> str | None:
    """Where an unfinished copy into ``db`` came from (None when there is none)."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT source, started_at FROM transfers WHERE finished_at IS NULL"
            " ORDER BY id DESC LIMIT 1"
        )
    return None if row is None else f"{row[0]} (started {row[1]})"


async def refuse_unfinished(db: Database) -> None:
    """Raise :class:`HalfCopied` when ``db`` is a copy that did not finish."""
    source = await unfinished(db)
    if source is not None:
        raise HalfCopied(
            f"{db.describe()} is a copy from {source} that did not finish, so it may be"
            " missing data: run `everystage migrate-db` again to finish it, or point"
            " storage.url back at the original"
        )


async def copy(
    source: Database,
    target: Database,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_table: Callable[[Copied], Awaitable[None] | None] | None = None,
) -> list[Copied]:
    """Copy every table of ``source`` into the empty ``target`` and check it; see the module.

    ``on_table`` hears of each table once it is copied and checked (progress for people).
    Stop the bot first: rows written to the source during the copy would not match.
    """
    async with source.read() as tx:
        mine = await _tables(tx, source.dialect)
    async with target.read() as tx:
        theirs = await _tables(tx, target.dialect)
    if set(mine) != set(theirs):
        differ = sorted(set(mine) ^ set(theirs))
        raise TransferError(
            f"the two schemas differ ({', '.join(differ)}): open the source with this"
            " version of Everystage first, so it is migrated"
        )
    order = [t for t in _in_order(mine) if t.name not in NOT_COPIED]
    for table in order:
        if set(table.columns) != set(theirs[table.name].columns):
            raise TransferError(f"table {table.name} has other columns in the target")

    restart = await unfinished(target)
    if restart is None:
        for table in order:
            async with target.read() as tx:
                row = await tx.one(f'SELECT 1 FROM "{table.name}" LIMIT 1')
            if row is not None:
                raise TransferError(
                    f"{target.describe()} already holds data (table {table.name}); copy only"
                    " into a new, empty database"
                )
    async with target.transaction() as tx:
        if restart is not None:  # an earlier copy that did not finish: start over
            for table in reversed(order):
                await tx.execute(f'DELETE FROM "{table.name}"')
        await tx.execute(
            "INSERT INTO transfers (source, started_at) VALUES (?, ?)",
            (source.describe(), utc_text(now())),
        )

    copied: list[Copied] = []
    for table in order:
        cols = ", ".join(f'"{c}"' for c in table.columns)
        insert = (
            f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" * len(table.columns))})'
        )
        async with source.read() as read, target.transaction() as write:
            async for batch in read.batches(f'SELECT {cols} FROM "{table.name}"', size=BATCH):
                await write.executemany(insert, [tuple(row) for row in batch])
        before, after = await _summary(source, table), await _summary(target, table)
        if before != after:
            same = " (the same count, other contents)"
            raise TransferError(
                f"table {table.name} does not match after copying: {before[0]} rows in the"
                f" source, {after[0]} in the target{same if before[0] == after[0] else ''}"
            )
        done = Copied(table.name, *before)
        copied.append(done)
        if on_table is not None:
            result = on_table(done)
            if result is not None:
                await result

    async with target.transaction() as tx:
        if target.dialect == "postgresql":
            # Rows kept their ids: new rows must get ids after them.
            for name, column in await tx.all(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_identity = 'YES'"
            ):
                if name in NOT_COPIED:
                    continue
                await tx.one(
                    "SELECT setval(pg_get_serial_sequence(?, ?),"
                    f' (SELECT coalesce(max("{column}"), 0) + 1 FROM "{name}"), false)',
                    (name, column),
                )
        await tx.execute(
            "UPDATE transfers SET finished_at = ? WHERE finished_at IS NULL", (utc_text(now()),)
        )
    return copied
