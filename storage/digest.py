"""The digest's aggregate queries: counts only, never an id, a chat or a pseudonym.

``gather`` reads everything one week's digest needs in one consistent read, as raw counts;
``bot.digest.content`` turns them into figures and hides small groups. Also here: the quote
consent (``participants.may_quote``) and the table that makes weekly delivery exactly-once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from storage.db import Database, utc_text


@dataclass(frozen=True)
class Bucket:
    """How many answers gave one value of one question in one week, and from how many people."""

    answers: int
    people: int


@dataclass
class QuestionCounts:
    """One question's answers in one week."""

    people: int = 0
    answers: int = 0
    buckets: dict[Any, Bucket] = field(default_factory=dict)


@dataclass
class CheckinCounts:
    """One check-in in the week: nudges sent and answered, sessions started and completed."""

    asked: int = 0
    asked_people: int = 0
    answered: int = 0
    answered_people: int = 0
    started: int = 0
    started_people: int = 0
    completed: int = 0
    completed_people: int = 0


@dataclass
class RawWeek:
    """Everything a digest is computed from."""

    people: dict[str, int] = field(default_factory=dict)  # active/paused/stopped/unreachable
    new_people: int = 0
    checkins: dict[str, CheckinCounts] = field(default_factory=dict)
    # (checkin_id, question_id) -> counts, for this week and the week before
    questions: dict[tuple[str, str], QuestionCounts] = field(default_factory=dict)
    previous: dict[tuple[str, str], QuestionCounts] = field(default_factory=dict)
    stage_week: dict[str, int] = field(default_factory=dict)  # stage -> people
    stage_all: dict[str, int] = field(default_factory=dict)
    every_stage: int = 0  # people who contributed in every stage reached so far
    updates: int = 0
    update_contributors: int = 0
    update_reached: int = 0
    alerts_raised: int = 0
    alerts_raised_people: int = 0
    alerts_taken: int = 0
    alerts_taken_people: int = 0
    quotes: list[tuple[str, str, str]] = field(default_factory=list)  # checkin, question, text


async def gather(
    db: Database,
    start: datetime,
    end: datetime,
    previous_start: datetime,
    reached_stages: list[str],
) -> RawWeek:
    """Counts for the week ``[start, end)``, and distributions for ``[previous_start, start)``."""
    s, e, p = utc_text(start), utc_text(end), utc_text(previous_start)
    raw = RawWeek()
    async with db.read() as tx:
        for row in await tx.all(
            "SELECT CASE WHEN status = 'stopped' THEN 'stopped'"
            " WHEN unreachable_since IS NOT NULL THEN 'unreachable' ELSE status END AS state,"
            " count(*) AS n, sum(created_at >= ? AND created_at < ?) AS new"
            " FROM participants WHERE created_at < ? GROUP BY state",
            (s, e, e),
        ):
            raw.people[row["state"]] = row["n"]
            raw.new_people += row["new"] or 0

        for row in await tx.all(
            "SELECT checkin_id, count(*) AS asked, count(DISTINCT participant_id) AS asked_people,"
            " sum(status = 'answered') AS answered,"
            " count(DISTINCT CASE WHEN status = 'answered' THEN participant_id END) AS ap"
            " FROM occurrences WHERE due_at >= ? AND due_at < ?"
            " AND (status = 'answered' OR (status IN ('open', 'expired') AND sent_at IS NOT NULL))"
            " GROUP BY checkin_id",
            (s, e),
        ):
            counts = raw.checkins.setdefault(row["checkin_id"], CheckinCounts())
            counts.asked, counts.asked_people = row["asked"], row["asked_people"]
            counts.answered, counts.answered_people = row["answered"] or 0, row["ap"]
        for row in await tx.all(
            "SELECT checkin_id, count(*) AS n, count(DISTINCT participant_id) AS people"
            " FROM completions WHERE completed_at >= ? AND completed_at < ? GROUP BY checkin_id",
            (s, e),
        ):
            counts = raw.checkins.setdefault(row["checkin_id"], CheckinCounts())
            counts.completed, counts.completed_people = row["n"], row["people"]

        # Two weeks of answers (through the time index): distributions of both weeks.
        week_flag = "CASE WHEN answered_at >= :s THEN 0 ELSE 1 END"
        window = "answered_at >= :p AND answered_at < :e AND value IS NOT NULL"
        counted = "kind IN ('scale', 'choice', 'yesno')"
        args = {"s": s, "p": p, "e": e}
        for row in await tx.all(
            f"SELECT {week_flag} AS week, checkin_id, question_id,"
            " count(DISTINCT participant_id) AS people"
            f" FROM answers WHERE {window} AND {counted} GROUP BY week, checkin_id, question_id",
            args,
        ):
            target = raw.questions if row["week"] == 0 else raw.previous
            target[(row["checkin_id"], row["question_id"])] = QuestionCounts(people=row["people"])
        for row in await tx.all(
            f"SELECT {week_flag} AS week, checkin_id, question_id, value, count(*) AS answers,"
            " count(DISTINCT participant_id) AS people"
            f" FROM answers WHERE {window} AND {counted}"
            " GROUP BY week, checkin_id, question_id, value",
            args,
        ):
            target = raw.questions if row["week"] == 0 else raw.previous
            counts = target[(row["checkin_id"], row["question_id"])]
            counts.buckets[json.loads(row["value"])] = Bucket(row["answers"], row["people"])
            counts.answers += row["answers"]
        for row in await tx.all(
            "SELECT checkin_id, count(DISTINCT session_id) AS n,"
            " count(DISTINCT participant_id) AS people FROM answers"
            " WHERE answered_at >= ? AND answered_at < ? GROUP BY checkin_id",
            (s, e),
        ):
            counts = raw.checkins.setdefault(row["checkin_id"], CheckinCounts())
            counts.started, counts.started_people = row["n"], row["people"]
        for row in await tx.all(
            "SELECT stage, count(DISTINCT participant_id) AS n FROM answers"
            " WHERE answered_at >= ? AND answered_at < ? AND value IS NOT NULL GROUP BY stage",
            (s, e),
        ):
            raw.stage_week[row["stage"]] = row["n"]

        # Since the start: who contributed in which stage (a covering partial index).
        contributions = (
            "SELECT participant_id, stage FROM answers INDEXED BY answers_contributions"
            " WHERE value IS NOT NULL GROUP BY participant_id, stage"
        )
        for row in await tx.all(
            f"SELECT stage, count(*) AS n FROM ({contributions}) GROUP BY stage"
        ):
            raw.stage_all[row["stage"]] = row["n"]
        if reached_stages:
            marks = ",".join("?" * len(reached_stages))
            row = await tx.one(
                f"SELECT count(*) AS n FROM (SELECT participant_id FROM ({contributions})"
                f" WHERE stage IN ({marks}) GROUP BY participant_id HAVING count(*) = ?)",
                (*reached_stages, len(reached_stages)),
            )
            raw.every_stage = row["n"] if row else 0

        # "You said, we did": updates written this week, and how many contributors they reached.
        updates = await tx.all(
            "SELECT id, contributors FROM updates WHERE created_at >= ? AND created_at < ?",
            (s, e),
        )
        raw.updates = len(updates)
        raw.update_contributors = sum(u["contributors"] for u in updates)
        if updates:
            keys = [f"update:{u['id']}" for u in updates]
            marks = ",".join("?" * len(keys))
            row = await tx.one(
                "SELECT count(*) AS n FROM outbox WHERE status = 'sent'"
                f" AND message_key IN ({marks})",
                tuple(keys),
            )
            raw.update_reached = row["n"] if row else 0

        row = await tx.one(
            "SELECT count(*) AS n, count(DISTINCT participant_id) AS people FROM alerts"
            " WHERE raised_at >= ? AND raised_at < ?",
            (s, e),
        )
        if row:
            raw.alerts_raised, raw.alerts_raised_people = row["n"], row["people"]
        row = await tx.one(
            "SELECT count(*) AS n, count(DISTINCT participant_id) AS people FROM alerts"
            " WHERE taken_at >= ? AND taken_at < ?",
            (s, e),
        )
        if row:
            raw.alerts_taken, raw.alerts_taken_people = row["n"], row["people"]

        # Quotes: typed words (never voice notes) from people who say yes to quoting now.
        for row in await tx.all(
            "SELECT a.checkin_id, a.question_id, a.value FROM answers a"
            " JOIN quote_consent q ON q.participant_id = a.participant_id"
            " WHERE q.may_quote = 1 AND a.answered_at >= ? AND a.answered_at < ?"
            " AND a.kind IN ('text', 'reflection') AND a.value IS NOT NULL"
            " AND a.file_path IS NULL ORDER BY a.answered_at, a.id",
            (s, e),
        ):
            text = json.loads(row["value"])
            if isinstance(text, str) and text.strip():
                raw.quotes.append((row["checkin_id"], row["question_id"], text))
    return raw


async def reached_stages(db: Database, configured: list[str], current: str) -> list[str]:
    """The configured stages up to and including the one the project is in now."""
    async with db.read() as tx:
        row = await tx.one("SELECT stage FROM stages ORDER BY id DESC LIMIT 1")
    now = row["stage"] if row and row["stage"] in configured else current
    return configured[: configured.index(now) + 1] if now in configured else list(configured)


# ---------------------------------------------------------------------------------------------
# Quote consent.


async def may_quote(db: Database, chat_id: int) -> tuple[bool | None, bool]:
    """(the person's answer, whether they were asked) for the participant in this chat."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT q.may_quote, q.asked_at FROM participants p"
            " LEFT JOIN quote_consent q ON q.participant_id = p.id WHERE p.chat_id = ?",
            (chat_id,),
        )
    if row is None:
        return None, True
    answer = None if row["may_quote"] is None else bool(row["may_quote"])
    return answer, row["asked_at"] is not None


async def mark_quote_asked(db: Database, chat_id: int, now: datetime) -> bool:
    """Record that the question was asked; False if it had been asked already."""
    async with db.transaction() as tx:
        changed = await tx.execute(
            "INSERT INTO quote_consent (participant_id, asked_at)"
            " SELECT id, ? FROM participants WHERE chat_id = ?"
            " ON CONFLICT (participant_id) DO NOTHING",
            (utc_text(now), chat_id),
        )
    return changed == 1


async def set_may_quote(db: Database, chat_id: int, allowed: bool, now: datetime) -> bool:
    """Store the person's answer; False if there is no such participant."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        changed = await tx.execute(
            "INSERT INTO quote_consent (participant_id, may_quote, asked_at, answered_at)"
            " SELECT id, ?, ?, ? FROM participants WHERE chat_id = ?"
            " ON CONFLICT (participant_id) DO UPDATE SET may_quote = excluded.may_quote,"
            " answered_at = excluded.answered_at",
            (int(allowed), stamp, stamp, chat_id),
        )
    return changed == 1


# ---------------------------------------------------------------------------------------------
# Exactly-once weekly delivery.


async def claim_week(db: Database, week: str, now: datetime) -> bool:
    """Claim a week's digest before sending it; False if it was claimed before (any process)."""
    async with db.transaction() as tx:
        changed = await tx.execute(
            "INSERT INTO digests (week, claimed_at) VALUES (?, ?) ON CONFLICT (week) DO NOTHING",
            (week, utc_text(now)),
        )
    return changed == 1


async def mark_sent(db: Database, week: str, now: datetime) -> None:
    """The digest for ``week`` went out."""
    async with db.transaction() as tx:
        await tx.execute("UPDATE digests SET sent_at = ? WHERE week = ?", (utc_text(now), week))
