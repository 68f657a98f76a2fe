"""The project's stages as they happened: the newest row is the current stage."""

from __future__ import annotations

from datetime import datetime

from storage import inbox, outbox
from storage.db import Database, parse_utc, utc_text


async def current_stage(db: Database) -> tuple[str, datetime] | None:
    """The stage the project is in and when it began, if one was ever recorded."""
    async with db.read() as tx:
        row = await tx.one("SELECT stage, entered_at FROM stages ORDER BY id DESC LIMIT 1")
    return (row["stage"], parse_utc(row["entered_at"])) if row else None


async def last_config_stage(db: Database) -> str | None:
    """The stage the config file last asked for (coordinators may have moved on since)."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT stage FROM stages WHERE source = 'config' ORDER BY id DESC LIMIT 1"
        )
    return row["stage"] if row else None


async def enter_stage(
    db: Database,
    stage: str,
    now: datetime,
    source: str,
    news: tuple[str, outbox.Text] | None = None,
) -> bool:
    """Record a new current stage; False (and nothing written) if it already is current.

    ``news`` (an outbox key and text) is queued, in the same transaction, for everyone taking
    part, so a crash cannot move the project on without telling them.
    """
    async with db.transaction() as tx:
        await tx.lock("stages")  # read, then write what was read: one such change at a time
        row = await tx.one("SELECT stage FROM stages ORDER BY id DESC LIMIT 1")
        if row is not None and row["stage"] == stage:
            return False
        await tx.execute(
            "INSERT INTO stages (stage, entered_at, source) VALUES (?, ?, ?)",
            (stage, utc_text(now), source),
        )
        if news is not None:
            key, text = news
            people = await tx.all(
                "SELECT id FROM participants WHERE status = 'active' AND unreachable_since IS NULL"
            )
            await outbox.queue_in(tx, [row["id"] for row in people], key, text, now)
        await inbox.complete_in(tx, now)
    return True
