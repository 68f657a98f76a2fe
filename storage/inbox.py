"""The durable inbox: every update is written here before Telegram is told it arrived.

An update's row is ``pending`` (payload kept) until it has been handled, then ``handled``,
``failed`` (its handler raised) or ``unreadable`` (python-telegram-bot could not parse it); from
then on only its id, times, status and an error's type name remain, never content. Rows are
kept for a while so that an update Telegram delivers twice is recognised and ignored.

Marking an update handled rides on the transaction that stores its effects
(:func:`complete_in`): the answer and "this update is done" commit together, so a crash can
neither lose an answer nor apply it twice. :data:`HANDLING` says which update the current task
is handling; the bot's update processor sets it.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Database, _Tx, utc_text


@dataclass
class Handling:
    """The update the current task is handling, and what has been recorded about it."""

    update_id: int
    marked: bool = False  # committed as handled together with its effects
    error: str | None = None  # the type name of an error its handler raised


HANDLING: ContextVar[Handling | None] = ContextVar("everystage_handling", default=None)

_DONE = "UPDATE inbox SET status = ?, error = ?, handled_at = ?, payload = NULL WHERE update_id = ?"


@dataclass(frozen=True)
class Pending:
    """An update written to the inbox and not handled yet."""

    update_id: int
    payload: dict[str, Any]


async def store(db: Database, updates: list[dict[str, Any]], now: datetime) -> list[Pending]:
    """Write fetched updates (before their offset is confirmed); return those new here.

    Updates already in the inbox (Telegram delivered them again after a restart) are ignored.
    """
    if not updates:
        return []
    stamp = utc_text(now)
    if len(updates) == 1:  # the usual case when people are not all answering at once
        (update,) = updates
        inserted = await db.insert(
            "INSERT INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT (update_id) DO NOTHING",
            (update["update_id"], json.dumps(update, ensure_ascii=False), stamp),
        )
        return [Pending(update["update_id"], update)] if inserted is not None else []
    ids = [u["update_id"] for u in updates]
    async with db.transaction() as tx:
        known = {
            row[0]
            for row in await tx.all(
                f"SELECT update_id FROM inbox WHERE update_id IN ({','.join('?' * len(ids))})",
                tuple(ids),
            )
        }
        fresh, seen = [], set(known)
        for update in updates:
            if update["update_id"] not in seen:
                seen.add(update["update_id"])
                fresh.append(update)
        if fresh:
            await tx.executemany(
                "INSERT INTO inbox (update_id, payload, received_at) VALUES (?, ?, ?)",
                [(u["update_id"], json.dumps(u, ensure_ascii=False), stamp) for u in fresh],
            )
    return [Pending(u["update_id"], u) for u in fresh]


async def recover(db: Database, max_attempts: int, now: datetime) -> tuple[list[Pending], int]:
    """At start-up: the updates a previous run fetched but did not finish, oldest first.

    Each start that finds an update unhandled counts as an attempt; one that has already been
    attempted ``max_attempts`` times (it keeps bringing the bot down) is given up as failed.
    Returns (the updates to handle, how many were given up).
    """
    async with db.transaction() as tx:
        await tx.execute("UPDATE inbox SET attempts = attempts + 1 WHERE status = 'pending'")
        given_up = await tx.execute(
            "UPDATE inbox SET status = 'failed', error = 'crashed the bot', handled_at = ?,"
            " payload = NULL WHERE status = 'pending' AND attempts > ?",
            (utc_text(now), max_attempts),
        )
        rows = await tx.all(
            "SELECT update_id, payload FROM inbox WHERE status = 'pending' ORDER BY update_id"
        )
    return [Pending(r["update_id"], json.loads(r["payload"])) for r in rows], given_up


async def complete_in(tx: _Tx, now: datetime) -> None:
    """Mark the update being handled (if any) as handled, in this transaction."""
    handling = HANDLING.get()
    if handling is None or handling.marked:
        return
    await tx.execute(_DONE, ("handled", None, utc_text(now), handling.update_id))
    tx.after_commit.append(lambda: setattr(handling, "marked", True))


async def finish(db: Database, handling: Handling, now: datetime) -> None:
    """After the handlers ran: record the outcome unless it was committed with the effects."""
    if handling.error is not None:
        await db.write(_DONE, ("failed", handling.error, utc_text(now), handling.update_id))
    elif not handling.marked:
        await db.write(_DONE, ("handled", None, utc_text(now), handling.update_id))
    handling.marked = True


async def settle_now(db: Database, now: datetime) -> None:
    """Mark the update being handled as handled right away (its payload erased now)."""
    handling = HANDLING.get()
    if handling is None or handling.marked:
        return
    await db.write(_DONE, ("handled", None, utc_text(now), handling.update_id))
    handling.marked = True


async def unreadable(db: Database, update_id: int, error: str, now: datetime) -> None:
    """python-telegram-bot could not parse it: keep the id and the error type, drop the rest."""
    await db.write(_DONE, ("unreadable", error, utc_text(now), update_id))


async def prune(db: Database, before: datetime) -> int:
    """Forget finished updates handled before ``before`` (Telegram re-delivers only for 24 h)."""
    return await db.write(
        "DELETE FROM inbox WHERE status != 'pending' AND handled_at < ?", (utc_text(before),)
    )


@dataclass(frozen=True)
class Counts:
    """How many updates are in each state."""

    pending: int = 0
    handled: int = 0
    failed: int = 0
    unreadable: int = 0


async def counts(db: Database) -> Counts:
    """Updates per state (for /stats, tests and benchmarks)."""
    async with db.read() as tx:
        rows = await tx.all("SELECT status, count(*) AS n FROM inbox GROUP BY status")
    return Counts(**{r["status"]: r["n"] for r in rows})


async def problems(db: Database, limit: int = 20) -> list[tuple[int, str, str]]:
    """The latest updates that were skipped: (update id, status, error type)."""
    async with db.read() as tx:
        rows = await tx.all(
            "SELECT update_id, status, error FROM inbox WHERE status IN ('failed', 'unreadable')"
            " ORDER BY handled_at DESC LIMIT ?",
            (limit,),
        )
    return [(r["update_id"], r["status"], r["error"] or "") for r in rows]
