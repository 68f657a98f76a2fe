"""Queries for stages, nudge occurrences and the outbox.

The database decides what is due. Each message is *claimed* in a transaction (its ``next_at``
moves on) before it is sent, so two ticks, or a restart, never send the same one twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from storage.db import Database, parse_utc, utc_text


@dataclass(frozen=True)
class Recipient:
    """A participant who may be nudged, with their preferences (None = project default)."""

    id: str
    chat_id: int
    joined: datetime
    timezone: str | None
    quiet_hours: str | None
    frequency: str


@dataclass(frozen=True)
class DueMessage:
    """An occurrence (check-in nudge) or outbox row whose next message is due."""

    table: str  # "occurrences" or "outbox"
    id: int
    participant_id: str
    chat_id: int
    next_at: str
    checkin_id: str | None = None
    status: str | None = None
    reminders_sent: int = 0
    text: str | None = None
    timezone: str | None = None
    quiet_hours: str | None = None


@dataclass(frozen=True)
class NewOccurrence:
    """An occurrence to record (ignored if its key is already there)."""

    participant_id: str
    checkin_id: str
    key: str
    due: datetime
    next_at: datetime | None
    closes_at: datetime
    status: str = "pending"


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


async def enter_stage(db: Database, stage: str, now: datetime, source: str) -> bool:
    """Record a new current stage; False (and nothing written) if it already is current."""
    async with db.transaction() as tx:
        row = await tx.one("SELECT stage FROM stages ORDER BY id DESC LIMIT 1")
        if row is not None and row["stage"] == stage:
            return False
        await tx.execute(
            "INSERT INTO stages (stage, entered_at, source) VALUES (?, ?, ?)",
            (stage, utc_text(now), source),
        )
    return True


async def recipients(db: Database) -> list[Recipient]:
    """Active, reachable participants who have not paused."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT id, chat_id, consented_at, timezone, quiet_hours, frequency"
            " FROM participants WHERE status = 'active' AND unreachable_since IS NULL"
        )
    return [
        Recipient(
            r["id"],
            r["chat_id"],
            parse_utc(r["consented_at"]),
            r["timezone"],
            r["quiet_hours"],
            r["frequency"],
        )
        for r in found
    ]


async def add_occurrences(db: Database, occurrences: Iterable[NewOccurrence]) -> int:
    """Record occurrences; those already recorded are left exactly as they are."""
    # Most people share the same few moments (everyone's Monday 10:00): format each once.
    text = functools.lru_cache(maxsize=4096)(utc_text)
    params = [
        (
            o.participant_id,
            o.checkin_id,
            o.key,
            text(o.due),
            o.status,
            text(o.next_at) if o.next_at else None,
            text(o.closes_at),
        )
        for o in occurrences
    ]
    if not params:
        return 0
    async with db.transaction() as tx:
        before = await tx.one("SELECT total_changes() AS n")
        await tx.executemany(
            "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status,"
            " next_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (participant_id, checkin_id, occurrence_key) DO NOTHING",
            params,
        )
        after = await tx.one("SELECT total_changes() AS n")
    return int(after["n"] - before["n"])


async def known_keys(db: Database, since: datetime) -> set[tuple[str, str, str]]:
    """(participant, check-in, key) of occurrences due since ``since``, to skip them fast."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT participant_id, checkin_id, occurrence_key FROM occurrences WHERE due_at >= ?",
            (utc_text(since),),
        )
    return {(r[0], r[1], r[2]) for r in found}


async def expire(db: Database, now: datetime) -> int:
    """Close open occurrences past their expiry; answers after this are kept, marked late."""
    async with db.transaction() as tx:
        return await tx.execute(
            "UPDATE occurrences SET status = CASE status WHEN 'open' THEN 'expired'"
            " ELSE 'missed' END, next_at = NULL"
            " WHERE status IN ('open', 'pending') AND closes_at <= ?",
            (utc_text(now),),
        )


async def due(db: Database, now: datetime, limit: int = 50_000) -> list[DueMessage]:
    """Every message due now, oldest first, for people who are active and reachable."""
    stamp = utc_text(now)
    async with db.read() as tx:
        nudges = await tx.all(
            "SELECT o.id, o.participant_id, p.chat_id, o.next_at, o.checkin_id, o.status,"
            " o.reminders_sent, p.timezone, p.quiet_hours FROM occurrences o"
            " JOIN participants p ON p.id = o.participant_id"
            " WHERE o.status IN ('pending', 'open') AND o.next_at <= ?"
            " AND p.status = 'active' AND p.unreachable_since IS NULL"
            " ORDER BY o.next_at LIMIT ?",
            (stamp, limit),
        )
        outbox = await tx.all(
            "SELECT b.id, b.participant_id, p.chat_id, b.next_at, b.text, p.timezone,"
            " p.quiet_hours FROM outbox b JOIN participants p ON p.id = b.participant_id"
            " WHERE b.status = 'pending' AND b.next_at <= ?"
            " AND p.status = 'active' AND p.unreachable_since IS NULL"
            " ORDER BY b.next_at LIMIT ?",
            (stamp, limit),
        )
    messages = [
        DueMessage(
            "occurrences",
            r["id"],
            r["participant_id"],
            r["chat_id"],
            r["next_at"],
            checkin_id=r["checkin_id"],
            status=r["status"],
            reminders_sent=r["reminders_sent"],
            timezone=r["timezone"],
            quiet_hours=r["quiet_hours"],
        )
        for r in nudges
    ] + [
        DueMessage(
            "outbox",
            r["id"],
            r["participant_id"],
            r["chat_id"],
            r["next_at"],
            text=r["text"],
            timezone=r["timezone"],
            quiet_hours=r["quiet_hours"],
        )
        for r in outbox
    ]
    return sorted(messages, key=lambda m: m.next_at)


async def postpone(db: Database, message: DueMessage, until: datetime) -> bool:
    """Move a due message later (quiet hours) without sending it."""
    async with db.transaction() as tx:
        return (
            await tx.execute(
                f"UPDATE {message.table} SET next_at = ? WHERE id = ? AND next_at = ?",
                (utc_text(until), message.id, message.next_at),
            )
            == 1
        )


async def claim(
    db: Database, message: DueMessage, now: datetime, next_reminder: datetime | None
) -> bool:
    """Take a due message for sending. False if someone else took it (or it changed)."""
    stamp = utc_text(now)
    after = utc_text(next_reminder) if next_reminder else None
    async with db.transaction() as tx:
        if message.table == "outbox":
            changed = await tx.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, next_at = ?"
                " WHERE id = ? AND status = 'pending' AND next_at = ?",
                (stamp, stamp, message.id, message.next_at),
            )
        elif message.status == "pending":
            changed = await tx.execute(
                "UPDATE occurrences SET status = 'open', sent_at = ?, next_at = ?"
                " WHERE id = ? AND status = 'pending' AND next_at = ?",
                (stamp, after, message.id, message.next_at),
            )
        else:
            changed = await tx.execute(
                "UPDATE occurrences SET reminders_sent = reminders_sent + 1, next_at = ?"
                " WHERE id = ? AND status = 'open' AND next_at = ?",
                (after, message.id, message.next_at),
            )
    return changed == 1


async def release(db: Database, message: DueMessage, retry_at: datetime) -> None:
    """A claimed message could not be sent (Telegram trouble): put it back for later."""
    async with db.transaction() as tx:
        if message.table == "outbox":
            await tx.execute(
                "UPDATE outbox SET status = 'pending', sent_at = NULL, next_at = ? WHERE id = ?",
                (utc_text(retry_at), message.id),
            )
        elif message.status == "pending":
            await tx.execute(
                "UPDATE occurrences SET status = 'pending', sent_at = NULL, next_at = ?"
                " WHERE id = ? AND status = 'open'",
                (utc_text(retry_at), message.id),
            )
        else:
            await tx.execute(
                "UPDATE occurrences SET reminders_sent = reminders_sent - 1, next_at = ?"
                " WHERE id = ? AND status = 'open'",
                (utc_text(retry_at), message.id),
            )


async def unreachable(db: Database, participant_id: str, now: datetime) -> None:
    """Telegram says we cannot reach them (blocked, or the chat is gone): stop sending."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE participants SET unreachable_since = ? WHERE id = ?",
            (utc_text(now), participant_id),
        )
        await tx.execute(
            "UPDATE occurrences SET status = 'failed', next_at = NULL"
            " WHERE participant_id = ? AND status IN ('pending', 'open')",
            (participant_id,),
        )
        await tx.execute(
            "UPDATE outbox SET status = 'failed' WHERE participant_id = ? AND status = 'pending'",
            (participant_id,),
        )


async def snooze(db: Database, occurrence_id: int, participant_id: str, until: datetime) -> bool:
    """'Remind me later': the occurrence's next message goes out at ``until``."""
    async with db.transaction() as tx:
        return (
            await tx.execute(
                "UPDATE occurrences SET next_at = ?"
                " WHERE id = ? AND participant_id = ? AND status = 'open'",
                (utc_text(until), occurrence_id, participant_id),
            )
            == 1
        )


async def occurrence(db: Database, occurrence_id: int, participant_id: str) -> dict | None:
    """One occurrence of this participant, as a dict."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT * FROM occurrences WHERE id = ? AND participant_id = ?",
            (occurrence_id, participant_id),
        )
    return dict(row) if row else None


async def open_for(db: Database, participant_id: str, checkin_id: str) -> int | None:
    """The newest occurrence of this check-in that the person has not answered yet."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT id FROM occurrences WHERE participant_id = ? AND checkin_id = ?"
            " AND status IN ('open', 'expired', 'pending') ORDER BY due_at DESC LIMIT 1",
            (participant_id, checkin_id),
        )
    return row["id"] if row else None


async def queue_outbox(
    db: Database, participant_ids: Iterable[str], key: str, text: str, now: datetime
) -> int:
    """Queue one message per person under ``key`` (at most once per person and key)."""
    params = [(pid, key, text, utc_text(now)) for pid in participant_ids]
    if not params:
        return 0
    async with db.transaction() as tx:
        before = await tx.one("SELECT total_changes() AS n")
        await tx.executemany(
            "INSERT INTO outbox (participant_id, message_key, text, next_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (participant_id, message_key) DO NOTHING",
            params,
        )
        after = await tx.one("SELECT total_changes() AS n")
    return int(after["n"] - before["n"])
