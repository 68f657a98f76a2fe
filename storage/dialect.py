"""Every difference between SQLite and PostgreSQL that the SQL in storage/ cannot avoid.

The queries in storage/ are written once, in SQL both databases run the same way: ``?``
placeholders (or ``:name`` with a dict), ``CASE WHEN ... THEN 1 ELSE 0 END`` rather than
``sum(x = 'y')``, ``IS [NOT] DISTINCT FROM`` rather than ``IS [NOT]``, ``CASE`` rather than
scalar ``max(a, b)``, ``INSERT ... ON CONFLICT ... DO NOTHING``, partial indexes, times as ISO
text and booleans as integers in both. What is left is here:

* placeholders: SQLite takes ``?`` and ``:name`` itself; PostgreSQL wants ``$1``, ``$2``...
  (:func:`postgres_sql`, cached per statement);
* ``INDEXED BY`` (a SQLite planner hint, kept for SQLite's sake): dropped for PostgreSQL;
* a new row's id: SQLite's ``lastrowid``; PostgreSQL appends ``RETURNING id``
  (:data:`RETURNING_ID`);
* how a transaction begins (:class:`Dialect`): SQLite's ``BEGIN IMMEDIATE`` takes the one write
  lock at once; PostgreSQL's ``BEGIN`` is READ COMMITTED, where each compare-and-set in storage/
  is one ``UPDATE``/``INSERT ... WHERE`` (atomic there too: a second writer waits for the row,
  then re-checks the condition). Transactions that read, then write what they read, take
  :meth:`~storage.db.Transaction.lock` (an advisory lock on PostgreSQL, nothing on SQLite, whose
  writers are serial anyway);
* reads: on SQLite under the connection's lock with no transaction; on PostgreSQL in a
  ``REPEATABLE READ READ ONLY`` transaction, so a block of reads sees one snapshot;
* PRAGMAs (SQLite only) and the schema itself: each backend has its own migrations, with the
  same numbers and names (``storage/migrations.py``, ``storage/migrations_pg.py``);
* erasure: SQLite overwrites deleted bytes (``secure_delete``) and truncates its WAL;
  PostgreSQL leaves dead rows until a scrub rewrites the tables and ends the WAL segments that
  logged them (:meth:`~storage.db.Database.scrub`);
* several workers (PostgreSQL only): claims lock what they take with ``FOR UPDATE ... SKIP
  LOCKED`` (:func:`skip_locked`), and liveness is judged by the database's clock
  (:func:`clock_ms`) and its list of sessions (:func:`session_alive`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: every commit (an answer, an update written to the inbox before Telegram is told it
    # arrived) is on disk before we go on, so it survives power loss, not just a crash.
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    # Deleted content is overwritten with zeros, so erasure really erases.
    "PRAGMA secure_delete = ON",
    "PRAGMA busy_timeout = 5000",
)

RETURNING_ID = " RETURNING id"


@dataclass(frozen=True)
class Dialect:
    """How one database begins transactions."""

    name: str
    begin: str  # a transaction that will write
    begin_read: str | None  # a block of reads (None: no transaction, the lock is enough)


SQLITE = Dialect("sqlite", "BEGIN IMMEDIATE", None)
POSTGRESQL = Dialect("postgresql", "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")

# Outside quotes: a placeholder (?, ?NNN, :name) or the SQLite-only ``INDEXED BY name``.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|\?(\d*)|(?<![:\w]):([A-Za-z_]\w*)|\s+INDEXED\s+BY\s+\w+""",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def postgres_sql(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` as PostgreSQL takes it: ``$n`` placeholders, no ``INDEXED BY``.

    Returns the statement and, when it used ``:name`` placeholders, the names in ``$n`` order
    (turn a dict of parameters into a tuple with :func:`postgres_params`).
    """
    names: list[str] = []
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        token = match.group(0)
        if token[0] in "'\"" or token == "::":
            return token
        if token[0] == "?":
            if match.group(1):
                return "$" + match.group(1)
            counter += 1
            return f"${counter}"
        if match.group(2):
            name = match.group(2)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"
        return ""  # INDEXED BY

    text = _TOKENS.sub(replace, sql)
    if names and counter:
        raise ValueError("a statement uses either ? or :name placeholders, not both")
    return text, (tuple(names) if names else None)


def postgres_params(names: tuple[str, ...] | None, params: tuple | dict) -> tuple:
    """Parameters in ``$n`` order (a dict is read by the names :func:`postgres_sql` found)."""
    if isinstance(params, dict):
        if names is None:
            raise ValueError("named parameters need :name placeholders")
        return tuple(params[name] for name in names)
    return tuple(params)


def skip_locked(dialect: str, table: str) -> str:
    """What ends a claiming ``SELECT``: on PostgreSQL ``FOR UPDATE OF <table> SKIP LOCKED``, so
    workers claiming at once each take rows nobody else is claiming, instead of queueing behind
    one another; nothing on SQLite, whose one writer claims alone anyway."""
    return f" FOR UPDATE OF {table} SKIP LOCKED" if dialect == POSTGRESQL.name else ""


def clock_ms(dialect: str) -> str:
    """Milliseconds since the epoch by the database server's clock, as an SQL expression: every
    worker judges liveness by this one clock, so their own clocks need not agree."""
    if dialect == POSTGRESQL.name:
        return "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)"
    return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"


def session_alive(dialect: str, pid: str) -> str:
    """An SQL condition: the database session ``pid`` names (a column) is still connected, or
    none is recorded. PostgreSQL ends a session as soon as its process dies (its socket
    closes), so a killed worker is known to be gone at once; SQLite has nothing to ask."""
    if dialect == POSTGRESQL.name:
        return f"({pid} IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = {pid}))"
    return "1 = 1"
