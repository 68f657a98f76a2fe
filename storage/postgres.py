"""The PostgreSQL backend: psycopg 3, a small pool of connections, prepared statements.

Each connection is in autocommit mode; :meth:`PostgresDatabase.transaction` is ``BEGIN`` ...
``COMMIT`` (READ COMMITTED: every compare-and-set in storage/ is a single conditional
``UPDATE``/``INSERT``, atomic there too), :meth:`~PostgresDatabase.read` a ``REPEATABLE READ,
READ ONLY`` transaction (one snapshot for a block of reads), ``write``/``insert`` one statement
on its own. Statements a connection runs twice are prepared on the server (psycopg's
``prepare_threshold``), so the bot's few hundred statements are parsed and planned once per
connection. Statements are written as for SQLite (``?``, ``:name``) and translated once each
(``storage/dialect.py``). The password comes from the caller (the environment) or libpq's own
``PGPASSWORD``/``PGPASSFILE``, never from the URL in the config file.

Why psycopg 3 (not asyncpg): server-side prepared statements and pipelined ``executemany``
as asyncpg has, but also a maintained pool of its own (psycopg_pool), one library with both an
async API (the bot) and a sync one (tests, ``migrate-db``, exports streamed from a worker
thread), libpq underneath (every ``postgresql://`` URL, ``PGPASSFILE``, ``sslmode`` and service
file works as in psql), and server-side cursors; it is the PostgreSQL project's own driver
family, well kept and packaged with a prebuilt libpq (``psycopg[binary]``).

Erasure: :meth:`PostgresDatabase.scrub` rewrites the tables rows were erased from and ends the
WAL segments that logged them, so no file under the data directory keeps the bytes (given the
server settings in ``deploy/postgresql.conf``); replicas and backups keep them until they expire.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncRawCursor, AsyncRawServerCursor, RawServerCursor
from psycopg.sql import SQL, Identifier
from psycopg_pool import AsyncConnectionPool

from storage import dialect
from storage.db import Database, Params, Row, Transaction, redacted
from storage.migrations import Migration

log = logging.getLogger(__name__)

# Migrations of several processes starting at once run one after the other.
_MIGRATION_LOCK = "everystage:migrations"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_PREPARE_THRESHOLD = 2  # prepare a statement the second time a connection runs it
_PREPARED_MAX = 1024  # the bot has a few hundred distinct statements

# What a scrub may do, asked before it starts (a step refused mid-way would be an ERROR in the
# server's log each time; VACUUM of a table someone else owns is only a WARNING, and no scrub).
_SCRUB_PRIVILEGES = """
SELECT
  r.rolsuper OR pg_catalog.pg_has_role(current_user, d.datdba, 'USAGE') AS owns_database,
  r.rolsuper OR coalesce((SELECT pg_catalog.pg_has_role(current_user, c.oid, 'USAGE')
                          FROM pg_catalog.pg_roles c WHERE c.rolname = 'pg_checkpoint'), false)
    AS may_checkpoint,
  pg_catalog.has_function_privilege('pg_catalog.pg_switch_wal()', 'EXECUTE') AS may_switch_wal,
  ARRAY(SELECT t FROM unnest($1::text[]) AS t
        JOIN pg_catalog.pg_class k ON k.oid = pg_catalog.to_regclass(t)
        WHERE NOT (r.rolsuper OR pg_catalog.pg_has_role(current_user, k.relowner, 'USAGE'))
  ) AS not_owned
FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""
# Sessions in this database whose snapshot (or transaction) began before transaction $1: while
# one is open, VACUUM FULL must copy rows deleted after it began ("recently dead") into the new
# files. (Sessions in other databases do not hold back this database's rows. Another role's
# sessions show no xmin without pg_read_all_stats: one role per database, as deployed, sees all.)
_OLDER_SNAPSHOTS = """
WITH now AS (SELECT age($1::text::xid8::xid) AS age)
SELECT count(*) FROM pg_catalog.pg_stat_activity, now
WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()
  AND (age(backend_xmin) > now.age OR age(backend_xid) > now.age)
"""
# How long a scrub waits for them (an export, say) before it goes on without.
_SNAPSHOT_WAIT_SECONDS = 30.0
_WARNED: set[str] = set()


async def _wait_for_older_snapshots(conn: AsyncConnection[Any]) -> None:
    """Wait until no session in this database can still see rows deleted before now, so that
    VACUUM FULL leaves them out (as CREATE INDEX CONCURRENTLY waits for older snapshots)."""
    cursor = await conn.execute("SELECT pg_catalog.pg_current_xact_id()::text", prepare=False)
    row = await cursor.fetchone()
    assert row is not None
    now = row[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SNAPSHOT_WAIT_SECONDS
    pause = 0.005
    while True:
        cursor = await conn.execute(_OLDER_SNAPSHOTS, (now,), prepare=False)
        older = await cursor.fetchone()
        if older is None or older[0] == 0:
            return
        if loop.time() >= deadline:
            log.warning(
                "erasure on PostgreSQL: %d sessions still had transactions older than the"
                " erasure after %.0f s (a long export?); the rows they could see stay in the"
                " table files until the next erasure",
                older[0],
                _SNAPSHOT_WAIT_SECONDS,
            )
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)


def _warn_once(needs: str, step: str) -> None:
    """Say once per process which privilege an erasure lacked (and what stays meanwhile)."""
    if step in _WARNED:
        return
    _WARNED.add(step)
    log.warning(
        "erasure on PostgreSQL: skipping %s: the bot's role needs to %s; until it can, erased"
        " rows may stay in the server's files (see deploy/postgresql.conf)",
        step,
        needs if needs.startswith("own") else f"have {needs}",
    )


class _Row(tuple):
    """A row by position or by column name, like sqlite3.Row (a tuple, so cheap to make)."""

    __slots__ = ()
    _index: dict[str, int] = {}  # noqa: RUF012 (set per column list by _row_class)
    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if key.__class__ is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        """The column names."""
        return self._names


_ROW_CLASSES: dict[tuple[str, ...], type[_Row]] = {}


def _row_class(names: tuple[str, ...]) -> type[_Row]:
    found = _ROW_CLASSES.get(names)
    if found is None:
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)  # as sqlite3.Row: the first column of a name
        found = type("Row", (_Row,), {"__slots__": (), "_index": index, "_names": names})
        if len(_ROW_CLASSES) < 4096:
            _ROW_CLASSES[names] = found
    return found


def _rows(cursor: Any) -> Any:
    """psycopg row factory: rows that read by position and by name."""
    description = cursor.description
    if description is None:
        return tuple
    return _row_class(tuple(column.name for column in description))


def _translate(sql: str, params: Params) -> tuple[str, tuple[Any, ...]]:
    text, names = dialect.postgres_sql(sql)
    return text, dialect.postgres_params(names, params)


class PostgresDatabase(Database):
    """A pool of psycopg connections to one PostgreSQL database."""

    dialect = "postgresql"
    schema: str | None = None  # the project's own schema, if it has one

    def __init__(self, pool: AsyncConnectionPool, url: str, kwargs: dict[str, Any]):
        self._pool = pool
        self._scrub_lock = asyncio.Lock()
        self._url = url
        self._kwargs = kwargs  # how to connect (the password, if given)

    @classmethod
    async def connect(
        cls,
        url: str,
        migrations: tuple[Migration, ...] | None = None,
        *,
        password: str | None = None,
        pool_size: int = 4,
        schema: str | None = None,
    ) -> PostgresDatabase:
        """Connect, bring the schema up to date, then open the pool.

        With ``schema``, every connection works in that schema only (its ``search_path``),
        made first if it is not there: one project per schema, several in one database.
        """
        kwargs: dict[str, Any] = {"application_name": "everystage"}
        if password:
            kwargs["password"] = password
        if schema is not None:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"'{schema}' is not a schema name like 'riverside'")
            kwargs["options"] = f"-c search_path={schema}"
        if migrations is None:
            from storage.migrations_pg import MIGRATIONS as migrations
        # One connection first: a wrong address or password fails here at once, plainly.
        conn = await AsyncConnection.connect(url, autocommit=True, **kwargs)
        try:
            if schema is not None:
                await _ensure_schema(conn, schema)
            await _migrate(conn, migrations)
        finally:
            await conn.close()

        async def configure(new: AsyncConnection[Any]) -> None:
            new.prepare_threshold = _PREPARE_THRESHOLD
            new.prepared_max = _PREPARED_MAX

        pool: AsyncConnectionPool = AsyncConnectionPool(
            url,
            min_size=pool_size,
            max_size=pool_size,
            kwargs={
                **kwargs,
                "autocommit": True,
                "cursor_factory": AsyncRawCursor,
                "row_factory": _rows,
            },
            configure=configure,
            name="everystage",
            open=False,
        )
        await pool.open(wait=True, timeout=30)
        db = cls(pool, url, kwargs)
        db.schema = schema
        return db

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN`` ... ``COMMIT`` (or ``ROLLBACK`` on error) on one connection of the pool."""
        async with self._pool.connection() as conn:
            await conn.execute(dialect.POSTGRESQL.begin)
            tx = _PostgresTransaction(conn)
            try:
                yield tx
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        for committed in tx.after_commit:
            committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Transaction]:
        """A read-only snapshot for the block (``REPEATABLE READ, READ ONLY``)."""
        async with self._pool.connection() as conn:
            assert dialect.POSTGRESQL.begin_read is not None
            await conn.execute(dialect.POSTGRESQL.begin_read)
            try:
                yield _PostgresTransaction(conn)
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def write(self, sql: str, params: Params = ()) -> int:
        """One statement on its own (autocommit); rows changed."""
        text, values = _translate(sql, params)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(text, values)
            return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """One INSERT on its own (``RETURNING id``); the new id, or None."""
        text, values = _translate(sql, params)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(text + dialect.RETURNING_ID, values)
            row = await cursor.fetchone()
        return row[0] if row is not None else None

    async def checkpoint(self) -> bool:
        """Nothing to do: the server manages its own write-ahead log. (What an erasure needs
        from it, :meth:`scrub` does.)"""
        return True

    async def scrub(self, tables: Sequence[str]) -> None:
        """Make the erased rows' bytes go from every file under the server's data directory.

        1. ``VACUUM (FULL, ANALYZE)`` of ``tables``: each is rewritten into new files holding
           only its live rows (the old files are truncated at once), and its statistics are
           taken again, so the planner's sample values no longer include erased ones;
        2. ``VACUUM FULL pg_statistic``: the replaced statistics go too (needs the database's
           owner);
        3. ``pg_switch_wal()`` then ``CHECKPOINT``: the segments that logged the rows are
           finished and, with ``wal_recycle = off`` and ``wal_keep_size = 0``, deleted (needs
           EXECUTE on ``pg_switch_wal()`` and the ``pg_checkpoint`` role, or a superuser).

        A step the role may not take is skipped, and said once per process in a warning naming
        the privilege (the erasure itself has committed by then). One scrub at a time.
        """
        names = [t for t in dict.fromkeys(tables) if _TABLE_NAME.match(t)]
        if not names:
            return
        async with self._scrub_lock, self._pool.connection() as conn:
            cursor = await conn.execute(_SCRUB_PRIVILEGES, (names,), prepare=False)
            may = await cursor.fetchone()
            assert may is not None
            not_owned = list(may["not_owned"] or ())
            if not_owned:
                _warn_once("own the tables " + ", ".join(not_owned), "VACUUM FULL")
            owned = [Identifier(t) for t in names if t not in not_owned]
            if owned:
                await _wait_for_older_snapshots(conn)
                await conn.execute(
                    SQL("VACUUM (FULL, ANALYZE) {}").format(SQL(", ").join(owned)),
                    prepare=False,
                )
            if may["owns_database"]:
                await _wait_for_older_snapshots(conn)  # the statistics ANALYZE replaced
                await conn.execute("VACUUM FULL pg_catalog.pg_statistic", prepare=False)
            else:
                _warn_once("own the database", "VACUUM FULL pg_statistic")
            if may["may_switch_wal"]:
                await conn.execute("SELECT pg_catalog.pg_switch_wal()", prepare=False)
            else:
                _warn_once("EXECUTE on pg_switch_wal()", "pg_switch_wal()")
            if may["may_checkpoint"]:
                await conn.execute("CHECKPOINT", prepare=False)
            else:
                _warn_once("the pg_checkpoint role (PostgreSQL 15+) or superuser", "CHECKPOINT")

    def stream(self, sql: str, params: Params = (), size: int = 5000) -> Iterator[list[Any]]:
        """Blocking: batches through a server-side cursor on a connection of its own."""
        text, values = _translate(sql, params)
        with (
            psycopg.connect(self._url, **self._kwargs) as conn,
            RawServerCursor(conn, f"stream_{secrets.token_hex(4)}") as cursor,
        ):
            conn.read_only = True
            cursor.execute(text, values)
            while batch := cursor.fetchmany(size):
                yield batch

    def describe(self) -> str:
        """The URL (without a password), and the schema if the project has one."""
        where = redacted(self._url)
        return where if self.schema is None else f"{where} (schema {self.schema})"

    async def own_connection(self) -> AsyncConnection[Any]:
        """A connection outside the pool, in autocommit mode, for the caller to keep and close
        (bot/leader.py holds one for the process's life: its session advisory lock and its
        backend's pid say this worker leads and is alive; both end when the process dies)."""
        return await AsyncConnection.connect(self._url, autocommit=True, **self._kwargs)


class _PostgresTransaction(Transaction):
    """One pooled connection inside ``BEGIN`` ... ``COMMIT``."""

    def __init__(self, conn: AsyncConnection[Any]):
        super().__init__()
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        text, values = _translate(sql, params)
        cursor = await self._conn.execute(text, values)
        return cursor.rowcount

    async def executemany(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement for many parameter rows (pipelined); rows changed in all."""
        text, names = dialect.postgres_sql(sql)
        cursor = self._conn.cursor()
        await cursor.executemany(text, [dialect.postgres_params(names, p) for p in params])
        return max(cursor.rowcount, 0)

    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT (``RETURNING id``); the new id, or None."""
        text, values = _translate(sql, params)
        cursor = await self._conn.execute(text + dialect.RETURNING_ID, values)
        row = await cursor.fetchone()
        return row[0] if row is not None else None

    async def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None."""
        text, values = _translate(sql, params)
        cursor = await self._conn.execute(text, values)
        return await cursor.fetchone()

    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""
        text, values = _translate(sql, params)
        cursor = await self._conn.execute(text, values)
        return await cursor.fetchall()

    async def batches(
        self, sql: str, params: Params = (), size: int = 5000
    ) -> AsyncIterator[list[Row]]:
        """Rows in lists of ``size``, through a server-side cursor."""
        text, values = _translate(sql, params)
        async with AsyncRawServerCursor(
            self._conn, f"batches_{secrets.token_hex(4)}", row_factory=_rows
        ) as cursor:
            await cursor.execute(text, values)
            while batch := await cursor.fetchmany(size):
                yield batch

    async def lock(self, name: str) -> None:
        """A transaction-level advisory lock on ``name`` (released at COMMIT/ROLLBACK)."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || current_schema(), 0))",
            (name,),
        )


async def _ensure_schema(conn: AsyncConnection[Any], schema: str) -> None:
    """Make the project's schema unless it is there (a DBA may have made it, owned by the
    project's role, without giving that role the right to create schemas)."""
    cursor = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    if await cursor.fetchone() is None:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')  # checked name
        log.info("made the schema for this project")


async def _migrate(conn: AsyncConnection[Any], migrations: tuple[Migration, ...]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError("migration versions must be unique and in ascending order")
    # Per schema: projects sharing a database migrate independently.
    lock = "SELECT pg_advisory_lock(hashtextextended(%s || ':' || current_schema(), 0))"
    await conn.execute(lock, (_MIGRATION_LOCK,))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"
        )
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        applied = {row[0] for row in await cursor.fetchall()}
        for migration in migrations:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)  # type: ignore[arg-type]
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, datetime.now(UTC).isoformat()),
                )
            log.info("applied migration %d: %s", migration.version, migration.name)
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock(hashtextextended(%s || ':' || current_schema(), 0))",
            (_MIGRATION_LOCK,),
        )
