"""Queries about participants, their check-ins and their answers.

Every function takes the :class:`~storage.db.Database` and plain values; SQL stays here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import inbox, listens, payments, transcripts
from storage.db import Database, Transaction, utc_text

_PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread
# A question whose delivery is not confirmed this long after it became due is sent again by
# the recovery job (the handler that made it due normally confirms it within a second).
PROMPT_GRACE = timedelta(seconds=45)


@dataclass(frozen=True)
class ConsentVersions:
    """The consent version that counts for each language: a project may change its Polish
    consent text (and version) without asking English readers again. People whose language
    has no entry, or none recorded, agreed to ``default``."""

    default: int
    by_language: Mapping[str, int] = field(default_factory=dict)

    def current(self, alias: str = "p") -> tuple[str, tuple[Any, ...]]:
        """SQL true when participant ``alias`` agreed to their language's current version."""
        if not self.by_language:
            return f"{alias}.consent_version = ?", (self.default,)
        cases = " ".join("WHEN ? THEN ?" for _ in self.by_language)
        params = [value for pair in self.by_language.items() for value in pair]
        return (
            f"{alias}.consent_version = CASE COALESCE({alias}.language, '') {cases} ELSE ? END",
            (*params, self.default),
        )


def consent_versions(value: int | ConsentVersions) -> ConsentVersions:
    """``value`` as :class:`ConsentVersions` (an int: one version for everyone)."""
    return value if isinstance(value, ConsentVersions) else ConsentVersions(value)


@dataclass(frozen=True)
class Participant:
    """A person who has consented. ``chat_id`` is only ever used to reach them."""

    id: str
    pseudonym: str
    chat_id: int
    status: str
    consent_version: int
    consented_at: str
    created_at: str
    timezone: str | None = None
    quiet_hours: str | None = None
    frequency: str = "weekly"
    unreachable_since: str | None = None
    cohort: str | None = None
    support_offered_at: str | None = None
    hear_results: int = 1  # 1: send them "what we heard" after a check-in (/settings)
    recognition: str | None = None  # how they want their time recognised (storage/payments.py)
    language: str | None = None  # the language they chose (None: the project's default)


@dataclass(frozen=True)
class Session:
    """A check-in in progress (``occurrence_id`` when it answers a nudge).

    ``step`` is the step of the question it shows now; ``delivered_step`` the step of the
    last question Telegram confirmed delivering. They differ while a question is on its way.
    """

    participant_id: str
    session_id: str
    checkin_id: str
    stage: str
    state: str
    message_id: int | None
    occurrence_id: int | None = None
    step: int | None = None
    delivered_step: int | None = None

    @property
    def delivered(self) -> bool:
        """True when the question it shows now has reached the person."""
        return self.step is not None and self.delivered_step == self.step


_SESSION_COLUMNS = (
    "participant_id, session_id, checkin_id, stage, state, message_id, occurrence_id, step,"
    " delivered_step"
)
_SESSION_SELECT = f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE participant_id = ?"


def closing_key(session_id: str) -> str:
    """The outbox key of the thank-you that ends a check-in."""
    return f"closing:{session_id}"


@dataclass(frozen=True)
class SessionPlan:
    """A check-in to start: what the engine's first step looks like."""

    checkin_id: str
    stage: str
    state: str
    step: int
    occurrence_id: int | None = None


@dataclass(frozen=True)
class NewAnswer:
    """An answer ready to store; ``value`` is None when skipped."""

    question_id: str
    kind: str
    value: Any
    file_path: str | None = None
    voice_seconds: int | None = None


_FIELDS = tuple(f.name for f in fields(Participant))


def _participant(row: Any) -> Participant | None:
    # Only the columns Participant knows, so a migration adding a column breaks nothing.
    return Participant(**{name: row[name] for name in _FIELDS}) if row is not None else None


def new_pseudonym() -> str:
    """A short, readable, random pseudonym like ``P-7QX3KM``."""
    return "P-" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(6))


async def language_at(db: Database, chat_id: int) -> tuple[bool, str | None]:
    """Whether someone at this chat has consented, and the language they chose."""
    async with db.read() as tx:
        row = await tx.one("SELECT language FROM participants WHERE chat_id = ?", (chat_id,))
    return (row is not None, row["language"] if row else None)


async def set_language(db: Database, participant_id: str, language: str | None) -> None:
    """Remember the language a person chose (None: the project's default)."""
    await db.write("UPDATE participants SET language = ? WHERE id = ?", (language, participant_id))


async def by_chat(db: Database, chat_id: int) -> Participant | None:
    """The participant reached at this chat, if they have consented."""
    async with db.read() as tx:
        return _participant(
            await tx.one("SELECT * FROM participants WHERE chat_id = ?", (chat_id,))
        )


async def by_id(db: Database, participant_id: str) -> Participant | None:
    """The participant with this id, if they are still here."""
    async with db.read() as tx:
        return _participant(
            await tx.one("SELECT * FROM participants WHERE id = ?", (participant_id,))
        )


async def with_session(db: Database, chat_id: int) -> tuple[Participant | None, Session | None]:
    """The participant at this chat and their open check-in, in one query (the hot path)."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT p.*, s.session_id AS s_session_id, s.checkin_id AS s_checkin_id,"
            " s.stage AS s_stage, s.state AS s_state, s.message_id AS s_message_id,"
            " s.occurrence_id AS s_occurrence_id, s.step AS s_step,"
            " s.delivered_step AS s_delivered_step"
            " FROM participants p LEFT JOIN sessions s ON s.participant_id = p.id"
            " WHERE p.chat_id = ?",
            (chat_id,),
        )
    person = _participant(row)
    if person is None or row["s_session_id"] is None:
        return person, None
    return person, Session(
        person.id,
        row["s_session_id"],
        row["s_checkin_id"],
        row["s_stage"],
        row["s_state"],
        row["s_message_id"],
        row["s_occurrence_id"],
        row["s_step"],
        row["s_delivered_step"],
    )


async def consent(
    db: Database,
    chat_id: int,
    version: int,
    now: datetime,
    cohort: str | None = None,
    plan: SessionPlan | None = None,
    language: str | None = None,
) -> tuple[Participant, Session | None]:
    """Record consent: create the participant, or update their consent version.

    ``language`` is the one the consent was given in (None: the project's default).

    ``cohort`` (the invite they came through) is kept if they do not have one yet. In the same
    transaction, a check-in they were in the middle of is marked to be shown again, or
    ``plan`` starts a new one, so nobody who says yes is left without a question.
    """
    stamp = utc_text(now)
    async with db.transaction() as tx:
        row = await tx.one("SELECT * FROM participants WHERE chat_id = ?", (chat_id,))
        if row is None:
            while True:
                pseudonym = new_pseudonym()
                if not await tx.one("SELECT 1 FROM participants WHERE pseudonym = ?", (pseudonym,)):
                    break
            await tx.execute(
                "INSERT INTO participants (id, pseudonym, chat_id, status, consent_version,"
                " consented_at, created_at, cohort, language)"
                " VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                (
                    secrets.token_hex(16),
                    pseudonym,
                    chat_id,
                    version,
                    stamp,
                    stamp,
                    cohort,
                    language,
                ),
            )
        else:
            await tx.execute(
                "UPDATE participants SET consent_version = ?, consented_at = ?, status = 'active',"
                " cohort = coalesce(cohort, ?), language = ? WHERE chat_id = ?",
                (version, stamp, cohort, language, chat_id),
            )
        person = _participant(
            await tx.one("SELECT * FROM participants WHERE chat_id = ?", (chat_id,))
        )
        assert person is not None
        row = await tx.one(_SESSION_SELECT, (person.id,))
        if row is not None:
            await tx.execute(
                "UPDATE sessions SET delivered_step = NULL, prompt_retry_at = ?"
                " WHERE session_id = ?",
                (utc_text(now + PROMPT_GRACE), row["session_id"]),
            )
            session: Session | None = replace(Session(**dict(row)), delivered_step=None)
        elif plan is not None:
            session = await _insert_session(tx, person.id, plan, now)
        else:
            session = None
        await inbox.complete_in(tx, now)
    return person, session


async def set_status(db: Database, participant_id: str, status: str) -> None:
    """Set 'active', 'paused' or 'stopped'. Hearing from someone means they are reachable."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE participants SET status = ?, unreachable_since = NULL WHERE id = ?",
            (status, participant_id),
        )


PREFERENCES = ("timezone", "quiet_hours", "frequency", "hear_results", "recognition")


async def set_preference(
    db: Database, participant_id: str, name: str, value: str | int | None
) -> None:
    """Set one of the preferences /settings offers (see PREFERENCES)."""
    if name not in PREFERENCES:
        raise ValueError(f"unknown preference {name!r}")
    async with db.transaction() as tx:
        await tx.execute(
            f"UPDATE participants SET {name} = ? WHERE id = ?",
            (value, participant_id),
        )


async def session(db: Database, participant_id: str) -> Session | None:
    """The check-in this participant is in the middle of, if any."""
    async with db.read() as tx:
        row = await tx.one(_SESSION_SELECT, (participant_id,))
    return Session(**dict(row)) if row else None


async def _insert_session(
    tx: Transaction, participant_id: str, plan: SessionPlan, now: datetime
) -> Session:
    session_id = secrets.token_hex(12)
    stamp = utc_text(now)
    await tx.execute("DELETE FROM sessions WHERE participant_id = ?", (participant_id,))
    await tx.execute(
        "INSERT INTO sessions (participant_id, session_id, checkin_id, stage, state,"
        " started_at, updated_at, occurrence_id, step, prompt_retry_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            participant_id,
            session_id,
            plan.checkin_id,
            plan.stage,
            plan.state,
            stamp,
            stamp,
            plan.occurrence_id,
            plan.step,
            utc_text(now + PROMPT_GRACE),
        ),
    )
    return Session(
        participant_id,
        session_id,
        plan.checkin_id,
        plan.stage,
        plan.state,
        None,
        plan.occurrence_id,
        plan.step,
    )


async def start_session(
    db: Database, participant_id: str, plan: SessionPlan, now: datetime
) -> Session:
    """Begin a check-in, replacing any unfinished one; its first question is now due."""
    async with db.transaction() as tx:
        session = await _insert_session(tx, participant_id, plan, now)
        await inbox.complete_in(tx, now)
    return session


async def prompt_delivered(db: Database, session_id: str, step: int, message_id: int) -> None:
    """Telegram confirmed the question of ``step``: remember it, and which message shows it."""
    await db.write(
        "UPDATE sessions SET delivered_step = ?, message_id = ? WHERE session_id = ? AND step = ?",
        (step, message_id, session_id, step),
    )


async def awaiting_prompt(
    db: Database, now: datetime | None, limit: int = 500
) -> list[tuple[int, Session]]:
    """(chat id, session) of check-ins whose current question has not reached the person.

    ``now`` None means all of them (at start-up nothing is on its way any more); otherwise
    those whose retry time has come. Only people who are active and reachable.
    """
    due = "" if now is None else " AND s.prompt_retry_at <= ?"
    params: tuple[Any, ...] = () if now is None else (utc_text(now),)
    async with db.read() as tx:
        rows = await tx.all(
            f"SELECT p.chat_id, {', '.join('s.' + c.strip() for c in _SESSION_COLUMNS.split(','))}"
            " FROM sessions s JOIN participants p ON p.id = s.participant_id"
            " WHERE s.delivered_step IS DISTINCT FROM s.step AND p.status = 'active'"
            f" AND p.unreachable_since IS NULL{due} ORDER BY s.prompt_retry_at LIMIT ?",
            (*params, limit),
        )
    found = []
    for row in rows:
        data = dict(row)
        chat_id = data.pop("chat_id")
        found.append((chat_id, Session(**data)))
    return found


async def retry_prompt_at(db: Database, session_id: str, step: int, when: datetime) -> None:
    """The question could not be sent now: the recovery job tries again at ``when``."""
    await db.write(
        "UPDATE sessions SET prompt_retry_at = ? WHERE session_id = ? AND step = ?"
        " AND delivered_step IS DISTINCT FROM step",
        (utc_text(when), session_id, step),
    )


async def save_step(
    db: Database,
    current: Session,
    expected_state: str,
    answers: list[NewAnswer],
    new_state: str | None,
    now: datetime,
    step: int | None = None,
    occurrence_id: int | None = None,
    closing: str | None = None,
    transcribe: bool = False,
) -> bool:
    """Store answers and move the session on, in one transaction.

    Returns False (storing nothing) when the session has moved on since ``expected_state``
    was read: a concurrent double tap, or a button pressed on an older message.
    When ``new_state`` is None the check-in is complete and the session ends. ``step`` is the
    new state's step: when it changes, the new question is due to be delivered.
    ``occurrence_id`` attaches a nudge the person is now answering. ``closing`` (when the
    check-in ends) is queued as a reply (outbox key ``closing:<session>``), so the thank-you
    survives a crash too. The update being handled is marked handled in the same transaction.
    A voice note joins the listen queue, and the transcriber's queue when ``transcribe``.
    """
    stamp = utc_text(now)
    async with db.transaction() as tx:
        # Compare-and-set: the session moves on only from the state the caller saw.
        if new_state is None:
            moved = await tx.execute(
                "DELETE FROM sessions WHERE session_id = ? AND state = ?",
                (current.session_id, expected_state),
            )
        else:
            moved = await tx.execute(
                "UPDATE sessions SET state = ?, updated_at = ?,"
                " occurrence_id = coalesce(?, occurrence_id),"
                " prompt_retry_at = CASE WHEN step IS NOT DISTINCT FROM ? THEN prompt_retry_at"
                " ELSE ? END,"
                " step = coalesce(?, step)"
                " WHERE session_id = ? AND state = ?",
                (
                    new_state,
                    stamp,
                    occurrence_id,
                    step,
                    utc_text(now + PROMPT_GRACE),
                    step,
                    current.session_id,
                    expected_state,
                ),
            )
        if moved != 1:
            return False
        await inbox.complete_in(tx, now)
        for answer in answers:
            value = None if answer.value is None else json.dumps(answer.value, ensure_ascii=False)
            await tx.execute(
                "INSERT INTO answers (participant_id, session_id, checkin_id, question_id, kind,"
                " value, file_path, stage, answered_at, voice_seconds, language)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " (SELECT language FROM participants WHERE id = ?))"
                " ON CONFLICT (session_id, question_id) DO NOTHING",
                (
                    current.participant_id,
                    current.session_id,
                    current.checkin_id,
                    answer.question_id,
                    answer.kind,
                    value,
                    answer.file_path,
                    current.stage,
                    stamp,
                    answer.voice_seconds,
                    current.participant_id,
                ),
            )
            if answer.file_path is not None:  # a voice note: a coordinator listens to it
                await listens.queue_in(tx, current.session_id, answer.question_id, stamp)
                if transcribe:
                    await transcripts.queue_in(tx, current.session_id, answer.question_id, stamp)
        if new_state is None:
            late = 0
            if current.occurrence_id is not None:
                # An answer after the occurrence closed is still kept, marked late.
                occurrence = await tx.one(
                    "SELECT closes_at FROM occurrences WHERE id = ?", (current.occurrence_id,)
                )
                late = int(bool(occurrence and occurrence["closes_at"] < stamp))
                await tx.execute(
                    "UPDATE occurrences SET status = 'answered', answered_at = ?, late = ?,"
                    " next_at = NULL WHERE id = ?",
                    (stamp, late, current.occurrence_id),
                )
            if closing:
                await tx.execute(
                    "INSERT INTO outbox (participant_id, message_key, text, next_at, kind)"
                    " VALUES (?, ?, ?, ?, 'reply') ON CONFLICT DO NOTHING",
                    (
                        current.participant_id,
                        closing_key(current.session_id),
                        closing,
                        utc_text(now + PROMPT_GRACE),
                    ),
                )
            await tx.execute(
                "INSERT INTO completions (session_id, participant_id, checkin_id, stage,"
                " completed_at, occurrence_id, late) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    current.session_id,
                    current.participant_id,
                    current.checkin_id,
                    current.stage,
                    stamp,
                    current.occurrence_id,
                    late,
                ),
            )
    return True


async def erase(db: Database, participant_id: str, files_dir: Path) -> int:
    """Erase every row and file about a participant; return how many answers went.

    Payments are the exception the law makes: they stay, under the code name only
    (:func:`storage.payments.unlink_in`), until ``recognition.retention_years`` have passed.

    On SQLite deleted rows are zeroed (``secure_delete``) and the WAL is checkpointed and
    truncated, so the bytes are gone from the database file and its WAL, not just unlinked. On
    PostgreSQL the tables are rewritten and old WAL removed (:meth:`~storage.db.Database.scrub`).
    """
    async with db.transaction() as tx:
        files = await tx.all(
            "SELECT file_path FROM answers WHERE participant_id = ? AND file_path IS NOT NULL"
            " UNION ALL SELECT file_path FROM update_feedback"
            " WHERE participant_id = ? AND file_path IS NOT NULL",
            (participant_id, participant_id),
        )
        count = await tx.execute("DELETE FROM answers WHERE participant_id = ?", (participant_id,))
        await payments.unlink_in(tx, participant_id)
        await tx.execute("DELETE FROM participants WHERE id = ?", (participant_id,))
        # The /delete press itself is done now: its payload (name, chat) goes with the rest.
        await inbox.complete_in(tx, datetime.now(UTC))
    await _remove_files(files_dir, [row["file_path"] for row in files])
    await db.scrub([*PERSONAL_TABLES, "inbox"])
    return count


async def erase_older_than(db: Database, cutoff: datetime, files_dir: Path) -> int:
    """Retention: erase answers (and their files) given before ``cutoff``."""
    stamp = utc_text(cutoff)
    async with db.transaction() as tx:
        files = await tx.all(
            "SELECT file_path FROM answers WHERE answered_at < ? AND file_path IS NOT NULL",
            (stamp,),
        )
        count = await tx.execute("DELETE FROM answers WHERE answered_at < ?", (stamp,))
        await tx.execute("DELETE FROM completions WHERE completed_at < ?", (stamp,))
        await tx.execute("DELETE FROM occurrences WHERE due_at < ?", (stamp,))
        await tx.execute("DELETE FROM alerts WHERE raised_at < ?", (stamp,))
        await tx.execute("DELETE FROM outbox WHERE next_at < ? AND status != 'pending'", (stamp,))
        await tx.execute("DELETE FROM sessions WHERE updated_at < ?", (stamp,))
    await _remove_files(files_dir, [row["file_path"] for row in files])
    if count:
        await db.scrub(_RETAINED_TABLES)
    return count


# What retention deletes from (besides the files).
_RETAINED_TABLES = ("answers", "completions", "occurrences", "alerts", "outbox", "sessions")


async def _remove_files(files_dir: Path, names: list[str]) -> None:
    import asyncio

    def remove() -> None:
        for name in names:
            (files_dir / name).unlink(missing_ok=True)

    if names:
        await asyncio.to_thread(remove)


# Every table with rows about a person (its ``participant_id``, or ``id`` for participants),
# and the key that holds them in /mydata's file. tests/test_participant_words.py checks that no
# table with a participant_id column is missing, so a new one cannot be forgotten.
PERSONAL_TABLES = {
    "participants": "you",
    "answers": "answers",
    "completions": "completed_checkins",
    "sessions": "checkin_in_progress",
    "quote_consent": "quote_consent",
    "alerts": "support_alerts",
    "occurrences": "nudges",
    "outbox": "messages_to_you",
    "send_attempts": "delivery_attempts",
    "update_feedback": "did_we_get_it_right",
    "suggestions": "your_suggestions",
    "decision_voters": "decisions_you_were_asked",
    "votes": "your_votes",
    "payments": "payments_to_you",
    "listens": "voice_notes_we_listened_to",
    "transcriptions": "voice_notes_waiting_to_be_written_down",
}
# Left out: the internal participant id (it means nothing to the person), and which
# coordinator took an alert (that is the staff member's name, not something about the person).
_LEFT_OUT = {"participant_id", "taken_by"}


def _visible(row: Any) -> dict[str, Any]:
    return {key: value for key, value in dict(row).items() if key not in _LEFT_OUT}


async def everything_about(db: Database, participant_id: str) -> dict[str, Any]:
    """All stored data about one participant, for /mydata: every row of every table about them.

    Answers keep ``voice_note`` (the file's name in the storage folder) and ``voice_seconds``;
    the handler says where the recording itself is.
    """
    by_participant = (participant_id,)
    async with db.read() as tx:
        person = await tx.one("SELECT * FROM participants WHERE id = ?", by_participant)
        answers = await tx.all(
            "SELECT session_id, checkin_id, question_id, kind, value, file_path, voice_seconds,"
            " transcript, transcript_by, stage, answered_at FROM answers"
            " WHERE participant_id = ? ORDER BY id",
            by_participant,
        )
        completions = await tx.all(
            "SELECT * FROM completions WHERE participant_id = ? ORDER BY completed_at",
            by_participant,
        )
        current = await tx.one("SELECT * FROM sessions WHERE participant_id = ?", by_participant)
        quote = await tx.one("SELECT * FROM quote_consent WHERE participant_id = ?", by_participant)
        alerts = await tx.all(
            "SELECT * FROM alerts WHERE participant_id = ? ORDER BY raised_at", by_participant
        )
        occurrences = await tx.all(
            "SELECT * FROM occurrences WHERE participant_id = ? ORDER BY due_at, id",
            by_participant,
        )
        outbox = await tx.all(
            "SELECT * FROM outbox WHERE participant_id = ? ORDER BY id", by_participant
        )
        attempts = await tx.all(
            "SELECT * FROM send_attempts WHERE participant_id = ? ORDER BY id", by_participant
        )
        verdicts = await tx.all(
            "SELECT f.update_id, u.text AS update_text, f.verdict, f.reason,"
            " f.file_path AS voice_note, f.answered_at FROM update_feedback f"
            " JOIN updates u ON u.id = f.update_id WHERE f.participant_id = ?"
            " ORDER BY f.answered_at",
            by_participant,
        )
        suggested = await tx.all(
            "SELECT id, text, created_at, status, decided_at, answer FROM suggestions"
            " WHERE participant_id = ? ORDER BY id",
            by_participant,
        )
        asked = await tx.all(
            "SELECT d.id, d.question, d.options, d.status, d.closes_at FROM decision_voters v"
            " JOIN decisions d ON d.id = v.decision_id WHERE v.participant_id = ? ORDER BY d.id",
            by_participant,
        )
        votes = await tx.all(
            "SELECT decision_id, option, voted_at FROM votes WHERE participant_id = ?"
            " ORDER BY decision_id, option",
            by_participant,
        )
        paid = await payments.of_person_in(tx, participant_id)
        listened = await tx.all(
            "SELECT a.checkin_id, a.question_id, l.queued_at, l.heard_at, l.outcome"
            " FROM listens l JOIN answers a ON a.id = l.answer_id WHERE l.participant_id = ?"
            " ORDER BY l.queued_at",
            by_participant,
        )
        transcribing = await tx.all(
            "SELECT a.checkin_id, a.question_id, t.queued_at, t.attempts"
            " FROM transcriptions t JOIN answers a ON a.id = t.answer_id"
            " WHERE t.participant_id = ? ORDER BY t.queued_at",
            by_participant,
        )
    assert person is not None
    you = _visible(person)
    you.pop("id")
    in_progress = None
    if current is not None:
        in_progress = {**_visible(current), "state": json.loads(current["state"])}
    may_quote = None if quote is None or quote["may_quote"] is None else quote["may_quote"] == 1
    return {
        "you": you,
        "answers": [
            {
                **{k: row[k] for k in ("session_id", "checkin_id", "question_id", "kind", "stage")},
                "answer": None if row["value"] is None else json.loads(row["value"]),
                "skipped": row["value"] is None,
                "voice_note": row["file_path"],
                "voice_seconds": row["voice_seconds"],
                # A voice note's words, and whose: 'person' (theirs: confirmed or typed),
                # 'coordinator' (written down by one listening), 'machine' (not yet checked).
                "transcript": row["transcript"],
                "transcript_by": row["transcript_by"],
                "answered_at": row["answered_at"],
            }
            for row in answers
        ],
        "completed_checkins": [_visible(row) for row in completions],
        "may_quote_my_words": may_quote,
        "quote_consent": None if quote is None else _visible(quote),
        "support_alerts": [_visible(row) for row in alerts],
        "checkin_in_progress": in_progress,
        "nudges": [_visible(row) for row in occurrences],
        "messages_to_you": [_visible(row) for row in outbox],
        "delivery_attempts": [_visible(row) for row in attempts],
        "did_we_get_it_right": [dict(row) for row in verdicts],
        "your_suggestions": [dict(row) for row in suggested],
        "decisions_you_were_asked": [
            {**dict(row), "options": json.loads(row["options"])} for row in asked
        ],
        "your_votes": [dict(row) for row in votes],
        "voice_notes_we_listened_to": [dict(row) for row in listened],
        "voice_notes_waiting_to_be_written_down": [dict(row) for row in transcribing],
        "payments_to_you": [
            {
                "number": p.id,
                "paid_on": p.paid_on,
                "amount": f"{p.amount(payments.places_of(p.currency)):f}",
                "currency": p.currency,
                "method": p.method,
                "you_had_asked_for": p.preference,
                "recorded_at": p.recorded_at,
            }
            for p in paid
        ],
    }
