"""The durable inbox: every update is written here before Telegram is told it arrived.

An update's row is ``pending`` (payload kept) until it has been handled, then ``handled``,
``failed`` (its handler raised) or ``unreadable`` (python-telegram-bot could not parse it); from
then on only its id, times, status and an error's type name remain, never content. Rows are
kept for a while so that an update Telegram delivers twice is recognised and ignored.

Marking an update handled rides on the transaction that stores its effects
(:func:`complete_in`): the answer and "this update is done" commit together, so a crash can
neither lose an answer nor apply it twice. :data:`HANDLING` says which update the current task
is handling; the bot's update processor sets it.

Each row carries its chat (``chat_id``; 0 for an update without one), so that when several
workers share the database any of them can handle a chat's pending updates from their stored
payloads, in update_id order, while it holds the chat's turn (storage/leases.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Database, Transaction, utc_text


@dataclass
class Handling:
    """The update the current task is handling, and what has been recorded about it."""

    update_id: int
    marked: bool = False  # committed as handled together with its effects
    error: str | None = None  # the type name of an error its handler raised


HANDLING: ContextVar[Handling | None] = ContextVar("everystage_handling", default=None)

NO_CHAT = 0  # the chat_id of an update that has no chat (Telegram never uses 0)

_DONE = "UPDATE inbox SET status = ?, error = ?, handled_at = ?, payload = NULL WHERE update_id = ?"


@dataclass(frozen=True)
class Pending:
    """An update written to the inbox and not handled yet."""

    update_id: int
    payload: dict[str, Any]


async def store(
    db: Database,
    updates: list[dict[str, Any]],
    now: datetime,
    chats: Sequence[int] | None = None,
    worker: str | None = None,
) -> list[Pending]:
    """Write fetched updates (before their offset is confirmed); return those new here.

    ``chats`` are the updates' chats, in the same order (0: none; all 0 if not given).
    ``worker`` received them (several workers: the others leave them to it while it lives).
    Updates already in the inbox (Telegram delivered them again after a restart) are ignored.
    """
    if not updates:
        return []
    stamp = utc_text(now)
    chat_ids = list(chats) if chats is not None else [NO_CHAT] * len(updates)
    if len(updates) == 1:  # the usual case when people are not all answering at once
        (update,) = updates
        inserted = await db.write(
            "INSERT INTO inbox (update_id, payload, received_at, chat_id, received_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
            (
                update["update_id"],
                json.dumps(update, ensure_ascii=False),
                stamp,
                chat_ids[0],
                worker,
            ),
        )
        return [Pending(update["update_id"], update)] if inserted == 1 else []
    chat_of = {u["update_id"]: chat for u, chat in zip(updates, chat_ids, strict=True)}
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
                "INSERT INTO inbox (update_id, payload, received_at, chat_id, received_by)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        u["update_id"],
                        json.dumps(u, ensure_ascii=False),
                        stamp,
                        chat_of[u["update_id"]],
                        worker,
                    )
                    for u in fresh
                ],
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


@dataclass(frozen=True)
class ChatRow:
    """One of a chat's updates, as the worker holding the chat's turn sees it."""

    update_id: int
    pending: bool
    payload: dict[str, Any] | None  # while pending


@dataclass(frozen=True)
class ChatRows:
    """What :func:`take_rows` found."""

    rows: list[ChatRow]  # oldest first
    given_up: int = 0


async def take_rows(
    db: Database,
    chat_id: int,
    also: int | None,
    max_attempts: int,
    now: datetime,
    before: int | None = None,
) -> ChatRows:
    """For the worker holding the chat's turn: its pending updates, oldest first (those before
    update ``before``, if given), each counted as an attempt; one begun more than
    ``max_attempts`` times without finishing (it keeps bringing workers down) is given up as
    failed instead, as :func:`recover` does on one machine. And update ``also`` if it is not
    among them: pending=False whether it is handled, left for later or elsewhere; not listed
    if it is not in the inbox at all (an update that did not come through it)."""
    async with db.transaction() as tx:
        return await take_rows_in(tx, chat_id, also, max_attempts, now, before)


async def take_rows_in(
    tx: Transaction,
    chat_id: int,
    also: int | None,
    max_attempts: int,
    now: datetime,
    before: int | None = None,
) -> ChatRows:
    """:func:`take_rows` inside a transaction (the one that took the chat's turn)."""
    until, params = (
        ("", (chat_id,)) if before is None else (" AND update_id < ?", (chat_id, before))
    )
    found = await tx.all(
        "UPDATE inbox SET attempts = attempts + 1 WHERE chat_id = ? AND status = 'pending'"
        f"{until} RETURNING update_id, payload, attempts",
        params,
    )
    doomed = [r["update_id"] for r in found if r["attempts"] > max_attempts]
    if doomed:
        await tx.execute(
            "UPDATE inbox SET status = 'failed', error = 'crashed the bot', handled_at = ?,"
            f" payload = NULL WHERE update_id IN ({','.join('?' * len(doomed))})",
            (utc_text(now), *doomed),
        )
    rows = [
        ChatRow(r["update_id"], True, json.loads(r["payload"]))
        for r in found
        if r["attempts"] <= max_attempts
    ]
    if also is not None and all(r["update_id"] != also for r in found):
        known = await tx.one("SELECT status FROM inbox WHERE update_id = ?", (also,))
        if known is not None:
            rows.append(ChatRow(also, False, None))  # handled, given up, or elsewhere
    return ChatRows(sorted(rows, key=lambda r: r.update_id), len(doomed))


async def complete_in(tx: Transaction, now: datetime) -> None:
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
