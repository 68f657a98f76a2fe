"""Suggestions: what a participant proposes (a question, a topic, a change) and what the team
did with it. Coordinators see a suggestion under the person's code name only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import outbox
from storage.db import Database, utc_text

STATUSES = ("new", "adopted", "not_now")


@dataclass(frozen=True)
class Suggestion:
    """One suggestion, with the code name of the person who made it."""

    id: int
    participant_id: str
    pseudonym: str
    text: str
    status: str


async def add(db: Database, participant_id: str, text: str, now: datetime) -> int:
    """Store a suggestion; its number."""
    async with db.transaction() as tx:
        found = await tx.insert(
            "INSERT INTO suggestions (participant_id, text, created_at) VALUES (?, ?, ?)",
            (participant_id, text, utc_text(now)),
        )
    assert found is not None
    return found


async def get(db: Database, suggestion_id: int) -> Suggestion | None:
    """A suggestion by number (None once its person erased their data)."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT s.id, s.participant_id, p.pseudonym, s.text, s.status FROM suggestions s"
            " JOIN participants p ON p.id = s.participant_id WHERE s.id = ?",
            (suggestion_id,),
        )
    return Suggestion(**dict(row)) if row else None


async def decide(
    db: Database, suggestion_id: int, status: str, now: datetime, *, key: str, message: outbox.Text
) -> bool:
    """Adopt a suggestion or leave it for now, and queue ``message`` to its person under
    ``key`` (once), in one transaction; False if it is gone or was decided so already."""
    if status not in STATUSES[1:]:
        raise ValueError(f"unknown status {status!r}")
    stamp = utc_text(now)
    async with db.transaction() as tx:
        row = await tx.one(
            "SELECT participant_id, status FROM suggestions WHERE id = ?", (suggestion_id,)
        )
        if row is None or row["status"] == status:
            return False
        await tx.execute(
            "UPDATE suggestions SET status = ?, decided_at = ? WHERE id = ?",
            (status, stamp, suggestion_id),
        )
        await outbox.queue_in(tx, [row["participant_id"]], key, message, now)
    return True


async def ask_answer(db: Database, suggestion_id: int, prompt_id: int) -> None:
    """Remember the message a coordinator replies to, to answer the suggestion."""
    await db.write(
        "UPDATE suggestions SET reply_prompt_id = ? WHERE id = ?", (prompt_id, suggestion_id)
    )


async def answer(
    db: Database, prompt_id: int, text: str, now: datetime, *, message: outbox.Text
) -> int | None:
    """Store a coordinator's reply (given as a reply to ``prompt_id``) and queue ``message``
    to the person; the suggestion's number, or None if that message asked nothing."""
    async with db.transaction() as tx:
        row = await tx.one(
            "SELECT id, participant_id FROM suggestions WHERE reply_prompt_id = ?", (prompt_id,)
        )
        if row is None:
            return None
        await tx.execute(
            "UPDATE suggestions SET answer = ?, reply_prompt_id = NULL WHERE id = ?",
            (text, row["id"]),
        )
        key = f"suggestion:{row['id']}:answer:{prompt_id}"
        await outbox.queue_in(tx, [row["participant_id"]], key, message, now)
    return int(row["id"])
