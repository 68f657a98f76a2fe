"""The storage contract: a :class:`Database` and its :class:`Transaction`, with two backends.

* SQLite (``storage/sqlite.py``), the default: one file, one connection, one lock; every
  statement is serialised and transactions are ``BEGIN IMMEDIATE``.
* PostgreSQL (``storage/postgres.py``): a small pool of connections through psycopg 3.

Every module in storage/ is written against this contract only, in SQL both run the same way;
what cannot be the same is in ``storage/dialect.py``. Open one with :meth:`Database.open` (or
``async with Database.opened(...)``), given a ``postgresql://`` URL, a ``sqlite:///`` URL, a
file path, or the bot's storage settings.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit, urlunsplit

from storage.migrations import Migration

Params = tuple[Any, ...] | dict[str, Any]


class Row(Protocol):
    """A result row: by position (``row[0]``) or by column name (``row["id"]``);
    ``dict(row)`` gives the columns by name, ``tuple(row)`` the values."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Sequence[str]: ...


@runtime_checkable
class StorageLocation(Protocol):
    """Where a database is (the bot's ``StorageSettings`` is one)."""

    @property
    def database_url(self) -> str: ...

    @property
    def database_password(self) -> str | None: ...


POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres(url: str | Path) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return isinstance(url, str) and url.split(":", 1)[0].lower() in POSTGRES_SCHEMES


def sqlite_path(url: str | Path) -> Path:
    """The file of a ``sqlite:///`` URL (three slashes and a relative path, four for an
    absolute one, as SQLAlchemy writes them), or a plain path as it is."""
    if isinstance(url, Path):
        return url
    if url.lower().startswith("sqlite:"):
        parts = urlsplit(url)
        if parts.netloc:
            raise ValueError("a sqlite URL has no host: sqlite:///relative.db or sqlite:////abs.db")
        path = unquote(parts.path)
        return Path(path[1:] if path.startswith("/") else path)
    return Path(url)


def redacted(url: str) -> str:
    """A database URL without its password (if it has one)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "(a database URL that cannot be read)"
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def has_password(url: str) -> bool:
    """Whether a database URL holds a password (``user:password@host``)."""
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


class Transaction(abc.ABC):
    """The database as seen inside :meth:`Database.transaction` or :meth:`Database.read`.

    Statements use ``?`` placeholders with a tuple, or ``:name`` with a dict.
    """

    def __init__(self) -> None:
        # Called once the transaction has committed (e.g. "this update is now handled").
        self.after_commit: list[Callable[[], None]] = []

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, params: Sequence[Params]) -> int:
        """Run one statement for many parameter rows; return the rows changed in all."""

    @abc.abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """Run an INSERT into a table with an ``id`` column; the new row's id (None if none)."""

    @abc.abstractmethod
    async def one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row, or None (for queries of one row)."""

    @abc.abstractmethod
    async def all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row."""

    @abc.abstractmethod
    def batches(self, sql: str, params: Params = (), size: int = 5000) -> AsyncIterator[list[Row]]:
        """Rows in lists of ``size``, without holding them all in memory."""

    @abc.abstractmethod
    async def lock(self, name: str) -> None:
        """Hold ``name`` until the transaction ends: transactions that read something and then
        write what they read take the same name, so they run one after the other. (SQLite's
        writers are serial anyway; PostgreSQL takes a transaction-level advisory lock.)"""


class Database(abc.ABC):
    """An open database with its schema up to date."""

    dialect: str  # "sqlite" or "postgresql"
    # The SQLite file (its raw bytes, the folder beside it); None on PostgreSQL.
    path: Path | None = None

    @classmethod
    async def open(
        cls,
        target: str | Path | StorageLocation,
        migrations: tuple[Migration, ...] | None = None,
        *,
        password: str | None = None,
        pool_size: int | None = None,
        unfinished_copy: bool = False,
    ) -> Database:
        """Open (creating a SQLite file if needed) and bring the schema up to date.

        ``target`` is a ``postgresql://`` URL, a ``sqlite:///`` URL, a file path, or storage
        settings (their URL and password). ``migrations`` default to the backend's own list.
        A database that ``everystage migrate-db`` began to copy into and did not finish is
        refused (``storage.transfer.HalfCopied``) unless ``unfinished_copy`` (migrate-db's own).
        """
        db = await cls._connect(target, migrations, password=password, pool_size=pool_size)
        if not unfinished_copy and migrations is None:
            from storage import transfer

            try:
                await transfer.refuse_unfinished(db)
            except BaseException:
                await db.close()
                raise
        return db

    @classmethod
    async def _connect(
        cls,
        target: str | Path | StorageLocation,
        migrations: tuple[Migration, ...] | None,
        *,
        password: str | None,
        pool_size: int | None,
    ) -> Database:
        schema = None
        if isinstance(target, StorageLocation):
            password = password if password is not None else target.database_password
            pool_size = pool_size or getattr(target, "pool_size", None)
            schema = getattr(target, "database_schema", None)
            target = target.database_url
        if is_postgres(target):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(
                str(target),
                migrations,
                password=password,
                pool_size=pool_size or 4,
                schema=schema,
            )
        from storage.sqlite import SqliteDatabase

        return await SqliteDatabase.connect(sqlite_path(target), migrations)

    @classmethod
    @asynccontextmanager
    async def opened(
        cls,
        target: str | Path | StorageLocation,
        *,
        password: str | None = None,
        unfinished_copy: bool = False,
    ) -> AsyncIterator[Database]:
        """``async with Database.opened(target) as db``: open (see :meth:`open`), then close."""
        db = await cls.open(target, password=password, unfinished_copy=unfinished_copy)
        try:
            yield db
        finally:
            await db.close()

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish (SQLite: checkpoint the WAL into the file) and close."""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction: committed at the end of the block, rolled back on an error;
        then its ``after_commit`` callbacks run."""

    @abc.abstractmethod
    def read(self) -> AbstractAsyncContextManager[Transaction]:
        """A block of reads that sees one consistent state of the database."""

    @abc.abstractmethod
    async def write(self, sql: str, params: Params = ()) -> int:
        """One statement on its own (atomic by itself); rows changed."""

    @abc.abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int | None:
        """One INSERT on its own; the new row's id, or None if it inserted nothing."""

    @abc.abstractmethod
    async def checkpoint(self) -> bool:
        """The cheap, periodic step. SQLite: move the WAL into the main file and truncate it
        to zero bytes (False if busy), so what was erased is gone from every file. PostgreSQL:
        nothing (True): dead row versions stay in the table files until :meth:`scrub`."""

    @abc.abstractmethod
    async def scrub(self, tables: Sequence[str]) -> None:
        """After rows were erased from ``tables`` (a /delete, a declined consent, retention):
        make their bytes go from every file. SQLite: a checkpoint (``secure_delete`` already
        zeroed them in the file). PostgreSQL: ``VACUUM (FULL, ANALYZE)`` of those tables (new
        files without the dead rows), ``VACUUM FULL pg_statistic``, ``pg_switch_wal()`` and
        ``CHECKPOINT`` (old WAL segments deleted, given ``wal_recycle = off``); a step the role
        lacks the privilege for is skipped with one warning (storage/postgres.py)."""

    @abc.abstractmethod
    def stream(self, sql: str, params: Params = (), size: int = 5000) -> Iterator[list[Any]]:
        """Blocking: rows (as tuples) in lists of ``size``, through a read-only connection of
        its own (SQLite: the file opened read-only, which WAL lets read while the bot writes;
        PostgreSQL: a server-side cursor). For a worker thread; never on the event loop."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the database is, for people (never a password)."""


def utc_text(moment: datetime) -> str:
    """How times are stored: UTC ISO 8601 to the microsecond, so text order is time order."""
    # isoformat (not strftime): a third faster, and planning writes thousands at a time.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`utc_text` (fromisoformat: ten times faster than strptime)."""
    return datetime.fromisoformat(text)
