"""The SQLite backend: one file through aiosqlite, one connection, one lock, a single writer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from storage import dialect
from storage.db import Database, Params, Row, Transaction
from storage.migrations import MIGRATIONS, Migration

log = logging.getLogger(__name__)


class SqliteDatabase(Database):
    """A single aiosqlite connection; every statement goes through one lock.

    One connection keeps writes serial (SQLite allows one writer anyway) and lets erasure
    checkpoint and truncate the WAL, since no other connection can hold a read snapshot open.
    """

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path

    @classmethod
    async def connect(
        cls, path: Path, migrations: tuple[Migration, ...] | None = None
    ) -> SqliteDatabase:
        """Open (creating if needed) the file and bring its schema up to date."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        for pragma in dialect.SQLITE_PRAGMAS:
            await conn.execute(pragma)
        db = cls(conn, path)
        try:
            await db._migrate(MIGRATIONS if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        async with self._lock:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._conn.close()

    async def _migrate(self, migrations: tuple[Migration, ...]) -> None:
        versions = [m.version for m in migrations]
        if versions != sorted(set(versions)):
            raise ValueError("migration versions must be unique and in ascending order")
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        async with self._conn.execute("SELECT version FROM schema_migrations") as cursor:
            applied = {row[0] async for row in cursor}
        for migration in migrations:
            if migration.version in applied:
                continue
            async with self.transaction() as tx:
                assert isinstance(tx, _SqliteTransaction)
                await tx.executescript_in_transaction(migration.sql)
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, datetime.now(UTC).isoformat()),
                )
            log.info("applied migration %d: %s", migration.version, migration.name)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on error), holding the lock."""
        async with self._lock:
            await self._conn.execute(dialect.SQLITE.begin)
            tx = _SqliteTransaction(self._conn)
            try:
                yield tx
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")
        for committed in tx.after_commit:
            committed()

    async def write(self, sql: str, params: Params = ()) -> int:
        """One statement on its own (atomic by itself, no BEGIN/COMMIT); rows changed."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """One INSERT on its own; the new row's id, or None if it inserted nothing."""
        async with self._lock:
            cursor = await self._conn.execute(sql, params)
            return cursor.lastrowid if cursor.rowcount == 1 else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """Reads holding the lock.

        No BEGIN/COMMIT: every statement goes through this one connection under the lock, so
        nothing can write between two reads in the block; a transaction would only add two
        round trips to the database thread.
        """
        async with self._lock:
            yield _SqliteTransaction(self._conn)

    async def checkpoint(self) -> bool:
        """Move the WAL into the main file and truncate it to zero bytes (False if busy)."""
        async with self._lock:
            rows = await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = next(iter(rows), (0,))[0]
        return not busy

    async def scrub(self, tables: Sequence[str]) -> None:
        """``secure_delete`` zeroed the rows in the file; the checkpoint empties the WAL."""
        await self.checkpoint()

    def stream(self, sql: str, params: Params = (), size: int = 5000) -> Iterator[list[Any]]:
        """Blocking: batches of rows through a read-only connection of its own."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            cursor = conn.execute(sql, params)
            while batch := cursor.fetchmany(size):
                yield batch
        finally:
            conn.close()

    def describe(self) -> str:
        """The file."""
        return str(self.path)


class _SqliteTransaction(Transaction):
    """The connection as seen inside a transaction."""

    def __init__(self, conn: aiosqlite.Connection):
        super().__init__()
        self._conn = conn

    # Each await below is one hop to aiosqlite's thread and back, the main cost of a query
    # here; so no separate fetch or close calls (sqlite3 finalises a finished statement itself).

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        cursor = await self._conn.execute(sql, params)
        return cursor.rowcount

    async def executemany(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement for many parameter rows; rows changed in all."""
        cursor = await self._conn.executemany(sql, params)
        return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT; return the new row id."""
        cursor = await self._conn.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount == 1 else None

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None (for queries of one row)."""
        rows = await self._conn.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        return list(await self._conn.execute_fetchall(sql, params))

    async def batches(
        self, sql: str, params: Params = (), size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        """Rows in lists of ``size``: one thread hop per batch instead of one per row."""
        async with self._conn.execute(sql, params) as cursor:
            while batch := await cursor.fetchmany(size):
                yield list(batch)

    async def lock(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already made this the only writer."""

    async def executescript_in_transaction(self, script: str) -> None:
        """Run several statements (``executescript`` would commit; this does not)."""
        for statement in _split_sql(script):
            await self._conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    """Split a script into statements; a ';' inside a string or trigger does not split."""
    statements, buffer = [], ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                statements.append(buffer.strip())
            buffer = ""
    return statements
