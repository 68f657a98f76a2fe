"""``everystage migrate-db --to URL``: copy this project's database to another, and check it.

The source is the database the config names (``storage.url`` or ``storage.path``); the target
is a new, empty database: ``postgresql://USER@HOST:PORT/DB`` (its password from
``EVERYSTAGE_TARGET_PASSWORD`` or libpq's own ``PGPASSWORD``/``~/.pgpass``, never the command
line, which every user can read) or ``sqlite:///FILE``. Stop the bot first. The copy itself is
storage/transfer.py; this prints its progress and, at the end, the line to put in the config.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import TextIO

import psycopg

from bot.settings import Settings
from storage import transfer
from storage.db import Database, has_password, is_postgres, redacted, sqlite_path

TARGET_PASSWORD_ENV = "EVERYSTAGE_TARGET_PASSWORD"
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _unfinished_copy(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is an unfinished copy (read-only look)."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            return (
                conn.execute("SELECT 1 FROM transfers WHERE finished_at IS NULL").fetchone()
                is not None
            )
    except sqlite3.Error:
        return False


def _same(settings: Settings, to: str) -> bool:
    storage = settings.storage
    if is_postgres(to) or storage.is_postgres:
        return is_postgres(to) and storage.is_postgres and redacted(to) == storage.describe()
    return sqlite_path(to).resolve() == sqlite_path(storage.database_url).resolve()


async def migrate(settings: Settings, to: str, out: TextIO = sys.stdout) -> int:
    """Copy the configured database to ``to``; 0 when every table matches."""
    if not (is_postgres(to) or to.lower().startswith("sqlite:")):
        print(
            f"--to must be a database URL: postgresql://USER@HOST:PORT/DB or sqlite:///FILE,"
            f" not '{redacted(to)}'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if is_postgres(to) and has_password(to):
        print(
            f"leave the password out of --to (every user on this machine can read a command"
            f" line): set {TARGET_PASSWORD_ENV} instead",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if _same(settings, to):
        print("--to names the database this project already uses", file=sys.stderr)
        return EXIT_USAGE
    if not settings.storage.is_postgres and not sqlite_path(settings.storage.database_url).exists():
        print(f"no database at {settings.storage.describe()}", file=sys.stderr)
        return EXIT_ERROR
    if (
        not is_postgres(to)
        and sqlite_path(to).exists()
        and not await asyncio.to_thread(_unfinished_copy, sqlite_path(to))
    ):
        print(
            f"{sqlite_path(to)} already exists: copy into a new file (or delete it first)",
            file=sys.stderr,
        )
        return EXIT_USAGE

    password = os.environ.get(TARGET_PASSWORD_ENV) or None
    try:
        async with (
            Database.opened(settings.storage) as source,
            Database.opened(to, password=password, unfinished_copy=True) as target,
        ):
            print(f"Copying {source.describe()} to {target.describe()}", file=out)

            def progress(done: transfer.Copied) -> None:
                print(
                    f"  {done.table}: {done.rows} rows, checksum {done.checksum[:16]} ok", file=out
                )

            copied = await transfer.copy(source, target, on_table=progress)
    except (transfer.TransferError, transfer.HalfCopied) as exc:
        print(f"not copied: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, psycopg.Error) as exc:  # a server cannot be reached, a file written
        print(f"not copied: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR
    rows = sum(c.rows for c in copied)
    print(
        f"Copied {len(copied)} tables, {rows} rows: every row count and checksum matches.",
        file=out,
    )
    print(
        "Point the project at the copy in its config, then start the bot:\n\n"
        f'[storage]\nurl = "{redacted(to)}"',
        file=out,
    )
    return EXIT_OK
