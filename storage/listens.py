"""Voice notes waiting for a coordinator to listen to them (``/listen``).

A voice note is queued in the same transaction as the answer it is (``queue_in``), so none is
missed. ``/listen`` hands the oldest one to a coordinator and keeps it from the others for
:data:`HOLD`, so two coordinators rarely listen to the same note; what they made of it
(``hear``) is one conditional UPDATE, so two presses record it once. ``/delete`` and retention
take the queue with the answers (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from storage.db import Database, Transaction, utc_text

Outcome = Literal["fine", "follow_up", "typed"]
HOLD = timedelta(minutes=30)
_CLAIM_TRIES = 5  # another coordinator took the one we chose: choose again


@dataclass(frozen=True)
class Note:
    """A voice note to listen to, and where it was given."""

    answer_id: int
    participant_id: str
    pseudonym: str
    checkin_id: str
    question_id: str
    file_path: str
    queued_at: str
    voice_seconds: float | None
    transcript: str | None  # words already kept (the machine's, the person's, a coordinator's)
    heard_by: str | None  # who listened to it, once someone has


@dataclass(frozen=True)
class Waiting:
    """How many voice notes nobody has listened to yet, and when the oldest came."""

    count: int
    oldest: str | None


_NOTE = (
    "SELECT l.answer_id, l.participant_id, p.pseudonym, a.checkin_id, a.question_id,"
    " a.file_path, l.queued_at, a.voice_seconds, a.transcript, l.heard_by FROM listens l"
    " JOIN answers a ON a.id = l.answer_id JOIN participants p ON p.id = l.participant_id"
)


async def queue_in(tx: Transaction, session_id: str, question_id: str, stamp: str) -> None:
    """Queue the voice note just stored as the answer to ``question_id`` in this session."""
    await tx.execute(
        "INSERT INTO listens (answer_id, participant_id, queued_at)"
        " SELECT id, participant_id, ? FROM answers"
        " WHERE session_id = ? AND question_id = ? AND file_path IS NOT NULL"
        " ON CONFLICT (answer_id) DO NOTHING",
        (stamp, session_id, question_id),
    )


async def next_for(db: Database, coordinator: str, now: datetime) -> Note | None:
    """The oldest voice note nobody has heard, handed to ``coordinator`` (None: none waiting).

    One they were handed before and did not finish comes back to them first.
    """
    free_since = utc_text(now - HOLD)
    for _ in range(_CLAIM_TRIES):
        async with db.read() as tx:
            row = await tx.one(
                f"{_NOTE} WHERE l.heard_at IS NULL"
                " AND (l.sent_at IS NULL OR l.sent_to = ? OR l.sent_at < ?)"
                " ORDER BY CASE WHEN l.sent_to = ? THEN 0 ELSE 1 END, l.queued_at, l.answer_id"
                " LIMIT 1",
                (coordinator, free_since, coordinator),
            )
        if row is None:
            return None
        claimed = await db.write(
            "UPDATE listens SET sent_to = ?, sent_at = ? WHERE answer_id = ?"
            " AND heard_at IS NULL AND (sent_at IS NULL OR sent_to = ? OR sent_at < ?)",
            (coordinator, utc_text(now), row["answer_id"], coordinator, free_since),
        )
        if claimed:
            return Note(**dict(row))
    return None


async def note(db: Database, answer_id: int) -> Note | None:
    """The voice note behind ``answer_id``, if it is still kept."""
    async with db.read() as tx:
        row = await tx.one(f"{_NOTE} WHERE l.answer_id = ?", (answer_id,))
    return Note(**dict(row)) if row else None


async def hear(
    db: Database, answer_id: int, coordinator: str, outcome: Outcome, now: datetime
) -> bool:
    """Record that ``coordinator`` listened to it and what they made of it; False if someone
    had already (or the note is gone)."""
    return bool(
        await db.write(
            "UPDATE listens SET heard_by = ?, heard_at = ?, outcome = ?"
            " WHERE answer_id = ? AND heard_at IS NULL",
            (coordinator, utc_text(now), outcome, answer_id),
        )
    )


async def write_down(
    db: Database, answer_id: int, words: str, coordinator: str, now: datetime
) -> bool:
    """Keep what a coordinator heard as the voice note's words, and mark it heard ("typed").

    False if the note is gone (the person deleted their data meanwhile).
    """
    async with db.transaction() as tx:
        kept = await tx.execute(
            "UPDATE answers SET transcript = ?, transcript_by = 'coordinator' WHERE id = ?",
            (words, answer_id),
        )
        await tx.execute(
            "UPDATE listens SET heard_by = COALESCE(heard_by, ?),"
            " heard_at = COALESCE(heard_at, ?), outcome = 'typed' WHERE answer_id = ?",
            (coordinator, utc_text(now), answer_id),
        )
    return bool(kept)


async def waiting(db: Database, until: datetime | None = None) -> Waiting:
    """How many voice notes are waiting to be heard, and since when the oldest: now, or as
    things stood at ``until`` (the end of a digest's week: came before it, not heard by then).
    """
    upper = utc_text(until) if until is not None else "9999"
    async with db.read() as tx:
        row = await tx.one(
            "SELECT count(*) AS n, min(queued_at) AS oldest FROM listens"
            " WHERE queued_at < ? AND (heard_at IS NULL OR heard_at >= ?)",
            (upper, upper),
        )
    return Waiting(int(row["n"]) if row else 0, row["oldest"] if row else None)
