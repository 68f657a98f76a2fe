"""Voice notes with words, for tests of what comes downstream of them (exports, quotes, what we
heard, /mydata, erasure). The words are set as the bot sets them, through storage/transcripts.py
and storage/listens.py, never by a test's own SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bot.settings import Settings
from storage import listens, participants, transcripts
from storage.db import Database
from storage.participants import NewAnswer, SessionPlan
from tests.conftest import rows

Whose = Literal["machine", "person", "fix", "coordinator", "audio only", "none"]


async def give_words(
    db: Database, answer_id: int, participant_id: str, words: str, whose: Whose, now: datetime
) -> None:
    """What happened to a voice note after it came in: the machine heard ``words`` and nobody
    checked ("machine"); the person said "That's right" ("person") or typed ``words`` as the
    fix of a mishearing ("fix"); a coordinator listening typed them ("coordinator"); the
    person kept it as audio only ("audio only"); or nothing yet ("none")."""
    if whose == "none":
        return
    if whose == "coordinator":
        assert await listens.write_down(db, answer_id, words, "coordinator-1", now)
        return
    heard = words if whose != "fix" else "misheard " + words
    async with db.transaction() as tx:
        assert await transcripts.heard(tx, answer_id, heard) is not None
    if whose == "person":
        assert await transcripts.confirm(db, answer_id, participant_id, now)
    elif whose == "fix":
        assert await transcripts.ask_fix(db, answer_id, participant_id, 900 + answer_id)
        assert await transcripts.fix(db, participant_id, 900 + answer_id, words) is not None
    elif whose == "audio only":
        assert await transcripts.audio_only(db, answer_id, participant_id, now)


async def voice_answer(
    db: Database,
    person: participants.Participant,
    when: datetime,
    file_name: str,
    question: str = "anything-else",
    checkin: str = "weekly",
    seconds: int = 12,
) -> int:
    """``person`` answers ``question`` with a voice note saved as ``file_name`` (the way the
    check-in stores it: its file reference as the value); the answer's id."""
    plan = SessionPlan(checkin, "delivery", "{}", 1)
    session = await participants.start_session(db, person.id, plan, when)
    note = NewAnswer(question, "text", file_name, file_path=file_name, voice_seconds=seconds)
    assert await participants.save_step(db, session, "{}", [note], None, when, transcribe=True)
    async with db.read() as tx:
        row = await tx.one("SELECT id FROM answers WHERE file_path = ?", (file_name,))
    assert row is not None
    return int(row["id"])


def voice_answer_ids(settings: Settings, chat_id: int) -> list[tuple[int, str]]:
    """(answer id, participant id) of each voice note the person with ``chat_id`` sent."""
    return [
        (int(answer), str(person))
        for answer, person in rows(
            settings,
            "SELECT a.id, a.participant_id FROM answers a"
            " JOIN participants p ON p.id = a.participant_id"
            " WHERE p.chat_id = ? AND a.file_path IS NOT NULL ORDER BY a.id",
            (chat_id,),
        )
    ]
