"""PostgreSQL for the tests: a fresh, isolated database per test, cloned from a migrated template.

The server is named by ``EVERYSTAGE_TEST_POSTGRES`` (a URL to a maintenance database, like
``postgresql://everystage:PASSWORD@127.0.0.1:5432/postgres``, for a role that may create
databases); ``.ci/postgres start`` starts a throwaway one and prints the line to export. Without
it the PostgreSQL half of the suite is skipped, saying why; in CI (``CI=true``) that is a
failure instead.

The first test that needs one makes a template database holding the migrated schema; each test
then gets ``CREATE DATABASE test_<random> TEMPLATE <it>`` (a file copy: a few tens of ms) and
drops it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "EVERYSTAGE_TEST_POSTGRES"
SKIP_REASON = (
    f'PostgreSQL tests need a server: run `eval "$(.ci/postgres start)"` to start one and set {ENV}'
)


@dataclass(frozen=True)
class Fresh:
    """A database made for one test: its URL (no password) and the password."""

    url: str
    password: str | None
    name: str


def server_url() -> str:
    """The server's URL; skips the test (fails it in CI) when none is configured."""
    url = os.environ.get(ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the PostgreSQL tests: {ENV} is not set (see .ci/run)")
        pytest.skip(SKIP_REASON)
    return url


def _with_database(url: str, name: str, *, keep_password: bool = True) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if not keep_password and parts.password is not None:
        netloc = (parts.username or "") + "@" + netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, path="/" + name))


class Server:
    """One PostgreSQL server, its template database, and the test databases made from it."""

    def __init__(self, url: str):
        self.url = url
        self.password = urlsplit(url).password
        self.template: str | None = None

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def _ensure_template(self) -> str:
        if self.template is not None:
            return self.template
        from storage.db import Database

        name = f"everystage_template_{os.getpid()}_{secrets.token_hex(3)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        async def migrate() -> None:
            db = await Database.open(_with_database(self.url, name))
            await db.close()

        # A loop of its own (in a thread: the caller may be inside the test's loop).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, migrate()).result()
        self.template = name
        return name

    def fresh(self) -> Fresh:
        """A new database with the schema in place."""
        template = self._ensure_template()
        name = f"test_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return Fresh(_with_database(self.url, name, keep_password=False), self.password, name)

    def empty(self) -> Fresh:
        """A new database with nothing in it (to test migrations themselves)."""
        name = f"test_{secrets.token_hex(6)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return Fresh(_with_database(self.url, name, keep_password=False), self.password, name)

    def drop(self, name: str) -> None:
        """Drop a test database (closing whatever still holds it open)."""
        import psycopg

        with self._admin() as conn:
            # A session of another role that has just disconnected may not have exited yet, and
            # ending it needs pg_signal_backend (which .ci/postgres grants); without that, wait.
            for _ in range(100):
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    return
                except psycopg.errors.InsufficientPrivilege:
                    time.sleep(0.05)
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        """Drop the template."""
        if self.template is not None:
            self.drop(self.template)
            self.template = None


_SERVER: Server | None = None
# The tests' own reader of each test database (rows() in conftest), kept open for the test:
# connecting costs ~10 ms (password auth), and some tests read after every step.
_READERS: dict[str, Any] = {}


def reader(url: str, password: str | None) -> Any:
    """A synchronous autocommit connection to ``url``, made once per test database."""
    conn = _READERS.get(url)
    if conn is None or conn.closed:
        import psycopg

        conn = psycopg.connect(url, password=password, autocommit=True)
        _READERS[url] = conn
    return conn


def forget(url: str) -> None:
    """Close the reader of a test database (before it is dropped)."""
    conn = _READERS.pop(url, None)
    if conn is not None:
        conn.close()


class DataDirectory:
    """Every file under the server's data directory, searched for bytes (``b"x" in it``).

    The raw bytes PostgreSQL keeps: every database's table and index files, the write-ahead log
    (``pg_wal``), the catalogs (``pg_statistic``'s sample values), whatever else is there. Read
    when searched, file by file (the directory holds 16 MB WAL segments); files the server
    removes meanwhile are passed over. ``found`` names where the last search found its bytes.
    """

    CHUNK = 1 << 22

    def __init__(self, path: Path):
        self.path = path
        self.found: list[str] = []

    def files(self) -> Iterator[Path]:
        """Every regular file, in no particular order."""
        for folder, _, names in os.walk(self.path):
            for name in names:
                path = Path(folder, name)
                if path.is_file() and not path.is_symlink():
                    yield path

    @staticmethod
    def flush() -> None:
        """Write the write-ahead log out to its files: the test server commits asynchronously
        (``synchronous_commit=off``), so a row just written may still be in memory. One
        synchronous commit flushes everything logged before it (and no CHECKPOINT, which
        would do part of what the bot's erasure must do itself)."""
        import psycopg

        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute("SET synchronous_commit = on")
            conn.execute("SELECT pg_current_xact_id()")  # a transaction id, so a commit record

    def holds(self, needle: bytes) -> bool:
        """Whether ``needle`` is stored: for checking that words are there *before* an
        erasure. A CHECKPOINT first writes the table pages out, since the WAL alone may not
        hold the words in one piece (a record that crosses a WAL page has the next page's
        header in the middle). Never use this after an erasure: the bot's scrub must do that
        work itself, so ``needle not in`` searches as things stand."""
        import psycopg

        with psycopg.connect(server_url(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        return needle in self

    def __contains__(self, needle: object) -> bool:
        assert isinstance(needle, bytes) and needle
        self.flush()
        self.found = []
        overlap = len(needle) - 1
        for path in self.files():
            try:
                with path.open("rb") as file:
                    tail = b""
                    while chunk := file.read(self.CHUNK):
                        if needle in tail + chunk:
                            self.found.append(str(path.relative_to(self.path)))
                            break
                        tail = chunk[-overlap:] if overlap else b""
            except (FileNotFoundError, PermissionError):
                continue  # removed meanwhile (a dropped database, an old WAL segment)
        return bool(self.found)

    def __repr__(self) -> str:
        where = f", found in {self.found}" if self.found else ""
        return f"<the files under PostgreSQL's data directory {self.path}{where}>"


def data_directory() -> DataDirectory:
    """The server's data directory, if this process can read it (it must run on the same
    machine, as root or as the server's user, and the role may read ``data_directory``: a
    superuser or a member of ``pg_read_all_settings``, as ``.ci/postgres`` makes it);
    otherwise the test is skipped, saying which."""
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        try:
            row = conn.execute("SHOW data_directory").fetchone()
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip(
                "the raw bytes under PostgreSQL's data directory need its path: GRANT "
                "pg_read_all_settings to the test role (.ci/postgres does)"
            )
        host = conn.info.host
    assert row is not None
    path = Path(row[0])
    if not (host in ("127.0.0.1", "::1", "localhost") or host.startswith("/")) or not os.access(
        path / "PG_VERSION", os.R_OK
    ):
        pytest.skip(
            f"the raw bytes under PostgreSQL's data directory ({path}) are read by the tests: "
            "run them on the server's machine as root or as its user (CI does)"
        )
    return DataDirectory(path)


def server() -> Server:
    """The configured server (skips or fails as :func:`server_url` says)."""
    global _SERVER
    url = server_url()
    if _SERVER is None or _SERVER.url != url:
        _SERVER = Server(url)
    return _SERVER


def close() -> None:
    """At the end of the session: drop the template, if one was made."""
    if _SERVER is not None:
        _SERVER.close()
