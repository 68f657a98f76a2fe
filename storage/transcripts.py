"""A voice note's words: the transcriber's queue, and the person checking what it heard.

A voice note is queued for the transcriber in the same transaction as the answer it is
(``queue_in``), so a restart loses none. A worker claims one at a time for :data:`LEASE`
(``claim``): a worker killed mid-note leaves a claim that runs out, and the note is tried
again, :data:`MAX_ATTEMPTS` times in all. Then it waits for a coordinator alone (``/listen``).

``answers.transcript_by`` says whose words they are:

* ``machine``: transcribed here, not yet checked by the person;
* ``person``: they said it is right, or typed the fix;
* ``coordinator``: typed by a coordinator listening to it (storage/listens.py).

A voice note leaves the listen queue only when the person has confirmed its words; a machine's
transcript is screened for safeguarding at once, but a misheard note must still be listened to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import inbox
from storage.db import Database, Transaction, utc_text

LEASE = timedelta(minutes=10)
# A message whose words were forgotten is not sent (again): an empty text is no message.
_NOT_SENT_NOW = "status = CASE WHEN status = 'sent' THEN status ELSE 'failed' END"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Job:
    """A voice note for the transcriber."""

    answer_id: int
    participant_id: str
    file_path: str
    language: str | None  # the person's language (None: the project's default)
    attempts: int
    checkin_id: str  # where the note was given (for a safeguarding alert)
    question_id: str


@dataclass(frozen=True)
class Words:
    """A voice note's words, whose they are, and where the note was given."""

    answer_id: int
    participant_id: str
    checkin_id: str
    question_id: str
    transcript: str | None
    transcript_by: str | None


async def queue_in(tx: Transaction, session_id: str, question_id: str, stamp: str) -> None:
    """Queue the voice note just stored as the answer to ``question_id`` in this session."""
    await tx.execute(
        "INSERT INTO transcriptions (answer_id, participant_id, queued_at)"
        " SELECT id, participant_id, ? FROM answers"
        " WHERE session_id = ? AND question_id = ? AND file_path IS NOT NULL"
        " ON CONFLICT (answer_id) DO NOTHING",
        (stamp, session_id, question_id),
    )


async def claim(db: Database, now: datetime) -> Job | None:
    """The oldest voice note nobody is transcribing, now claimed for :data:`LEASE`."""
    stamp = utc_text(now)
    for _ in range(5):  # another worker took the one we chose: choose again
        async with db.read() as tx:
            row = await tx.one(
                "SELECT t.answer_id, t.participant_id, a.file_path, p.language, t.attempts,"
                " a.checkin_id, a.question_id FROM transcriptions t"
                " JOIN answers a ON a.id = t.answer_id"
                " JOIN participants p ON p.id = t.participant_id"
                " WHERE (t.claimed_until IS NULL OR t.claimed_until < ?) AND t.attempts < ?"
                " AND a.file_path IS NOT NULL ORDER BY t.queued_at, t.answer_id LIMIT 1",
                (stamp, MAX_ATTEMPTS),
            )
        if row is None:
            return None
        taken = await db.write(
            "UPDATE transcriptions SET claimed_until = ?, attempts = attempts + 1"
            " WHERE answer_id = ? AND attempts = ?"
            " AND (claimed_until IS NULL OR claimed_until < ?)",
            (utc_text(now + LEASE), row["answer_id"], row["attempts"], stamp),
        )
        if taken:
            return Job(**{**dict(row), "attempts": row["attempts"] + 1})
    return None


async def waiting(db: Database) -> int:
    """How many voice notes the transcriber has still to try."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT count(*) AS n FROM transcriptions WHERE attempts < ?", (MAX_ATTEMPTS,)
        )
    return int(row["n"]) if row else 0


async def failed(db: Database, answer_id: int, now: datetime) -> bool:
    """The transcriber could not make words of it: free it to be tried again (or, after
    :data:`MAX_ATTEMPTS`, forget it: it waits for a coordinator). True if it is given up."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE transcriptions SET claimed_until = NULL WHERE answer_id = ?", (answer_id,)
        )
        return bool(
            await tx.execute(
                "DELETE FROM transcriptions WHERE answer_id = ? AND attempts >= ?",
                (answer_id, MAX_ATTEMPTS),
            )
        )


async def release(db: Database, answer_id: int) -> None:
    """Give a note back to the queue untried (the bot is stopping while on it)."""
    await db.write(
        "UPDATE transcriptions SET claimed_until = NULL, attempts = attempts - 1"
        " WHERE answer_id = ? AND claimed_until IS NOT NULL",
        (answer_id,),
    )


async def release_all(db: Database) -> int:
    """Give back every claimed note: at start-up, when this is the only process (SQLite), a
    claim left by a run that was killed need not run out first."""
    return await db.write(
        "UPDATE transcriptions SET claimed_until = NULL WHERE claimed_until IS NOT NULL"
    )


async def heard(tx: Transaction, answer_id: int, words: str | None) -> Words | None:
    """Keep the machine's ``words`` for a voice note and take it off the transcriber's queue.

    None when there is nothing to show the person: the note is gone (deleted meanwhile), a
    coordinator typed its words already, or the machine heard nothing (``words`` empty).
    """
    await tx.execute("DELETE FROM transcriptions WHERE answer_id = ?", (answer_id,))
    if not words:
        return None
    kept = await tx.execute(
        "UPDATE answers SET transcript = ?, transcript_by = 'machine'"
        " WHERE id = ? AND transcript_by IS NULL",
        (words, answer_id),
    )
    return await of(tx, answer_id) if kept else None


async def of(tx: Transaction, answer_id: int) -> Words | None:
    """The words of one voice note answer (None if it is gone)."""
    row = await tx.one(
        "SELECT id AS answer_id, participant_id, checkin_id, question_id, transcript,"
        " transcript_by FROM answers WHERE id = ? AND file_path IS NOT NULL",
        (answer_id,),
    )
    return Words(**dict(row)) if row else None


async def confirm(db: Database, answer_id: int, participant_id: str, now: datetime) -> bool:
    """The person says the words are right: they are theirs now, and the note has been
    heard. False if there are no machine words of theirs to confirm (any more)."""
    async with db.transaction() as tx:
        mine = await tx.execute(
            "UPDATE answers SET transcript_by = 'person', fix_message_id = NULL"
            " WHERE id = ? AND participant_id = ? AND transcript IS NOT NULL"
            " AND transcript_by IN ('machine', 'person')",
            (answer_id, participant_id),
        )
        if mine:
            await _heard_by_person(tx, participant_id, answer_id)
    return bool(mine)


async def ask_fix(db: Database, answer_id: int, participant_id: str, message_id: int) -> bool:
    """Remember the message asking the person to type what they said (their reply fixes it)."""
    return bool(
        await db.write(
            "UPDATE answers SET fix_message_id = ? WHERE id = ? AND participant_id = ?"
            " AND file_path IS NOT NULL",
            (message_id, answer_id, participant_id),
        )
    )


async def fix(db: Database, participant_id: str, message_id: int, words: str) -> Words | None:
    """The person's reply to "type what you said": their words replace the machine's."""
    async with db.transaction() as tx:
        row = await tx.one(
            "SELECT id FROM answers WHERE participant_id = ? AND fix_message_id = ?",
            (participant_id, message_id),
        )
        if row is None:
            return None
        await tx.execute(
            "UPDATE answers SET transcript = ?, transcript_by = 'person', fix_message_id = NULL"
            " WHERE id = ?",
            (words, row["id"]),
        )
        await tx.execute("DELETE FROM transcriptions WHERE answer_id = ?", (row["id"],))
        await _heard_by_person(tx, participant_id, row["id"])
        return await of(tx, row["id"])


async def audio_only(db: Database, answer_id: int, participant_id: str, now: datetime) -> bool:
    """Keep the voice note as audio only: its words are forgotten, everywhere they were kept
    (the answer, the "Here's what I heard" message in the outbox, and the press's own update,
    which carries that message: marked handled, so its payload goes, in this transaction).
    The note stays in the listen queue. False if it is not theirs or is gone."""
    async with db.transaction() as tx:
        await inbox.complete_in(tx, now)
        mine = await tx.execute(
            "UPDATE answers SET transcript = NULL, transcript_by = NULL, fix_message_id = NULL"
            " WHERE id = ? AND participant_id = ? AND file_path IS NOT NULL",
            (answer_id, participant_id),
        )
        if mine:
            await tx.execute("DELETE FROM transcriptions WHERE answer_id = ?", (answer_id,))
            await _forget_message(tx, participant_id, answer_id)
    return bool(mine)


def heard_key(answer_id: int) -> str:
    """The outbox key of a voice note's "Here's what I heard" message."""
    return f"heard:{answer_id}"


async def forget_orphans(db: Database) -> int:
    """Forget the words in "Here's what I heard" messages whose voice note is gone (erased
    by retention); /delete takes them with the person.

    Only keys of one voice note (``heard:<answer id>``): "what we heard" shares a check-in's
    week under ``heard:<check-in>:<week>`` (bot/handlers/heard.py), words of no voice note.
    """
    return await db.write(
        f"UPDATE outbox SET text = '', {_NOT_SENT_NOW} WHERE message_key LIKE 'heard:%'"
        " AND text <> ''"
        " AND message_key NOT LIKE 'heard:%:%'"
        " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.participant_id = outbox.participant_id"
        " AND outbox.message_key = 'heard:' || a.id)"
    )


async def _heard_by_person(tx: Transaction, participant_id: str, answer_id: int) -> None:
    # Confirmed words were screened like typed ones: no coordinator needs to listen any more.
    await tx.execute("DELETE FROM listens WHERE answer_id = ? AND heard_at IS NULL", (answer_id,))
    await _forget_message(tx, participant_id, answer_id)


async def _forget_message(tx: Transaction, participant_id: str, answer_id: int) -> None:
    # The words were kept in the queued message too; the answer is their one home now.
    await tx.execute(
        f"UPDATE outbox SET text = '', {_NOT_SENT_NOW} WHERE participant_id = ?"
        " AND message_key = ?",
        (participant_id, heard_key(answer_id)),
    )
