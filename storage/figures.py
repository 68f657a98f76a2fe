"""The digest's aggregate queries: counts only, never an id, a chat or a pseudonym.

``gather`` reads everything one week's digest needs in one consistent read, as raw counts,
each as it stood at the end of that week (later rows never leak into an earlier week);
``bot.digest.content`` turns them into figures and hides small groups. Also here: the quote
consent (``participants.may_quote``) and the table that makes weekly delivery exactly-once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conversations.kinds import KINDS
from conversations.questions import Aggregate
from storage.db import Database, utc_text
from storage.stats import ANSWERED_BY, ASKED_BY


def _kind_in(names: list[str]) -> str:
    """SQL: the answer is of one of these kinds (names are lower-case words: see kinds.py)."""
    return "kind IN (" + ", ".join(f"'{name}'" for name in names) + ")"


# The kinds whose answers the digest counts, and those whose typed words it may quote: as
# each kind says (conversations/kinds.py).
COUNTED = _kind_in([name for name, kind in KINDS.items() if kind.aggregate is not Aggregate.NONE])
QUOTED = _kind_in([name for name, kind in KINDS.items() if kind.quotable])


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
    """One check-in in the week.

    asked: nudges and /ask messages due this week that had reached the person by its end
    (Telegram confirmed them, or they were answered); answered: of those, the ones answered
    by the end of the week. started: check-ins with an answer this week; completed: check-ins
    finished this week, however they began; unprompted: of those, the ones no nudge asked for
    (started with /checkin while no nudge was waiting).
    """

    asked: int = 0
    asked_people: int = 0
    answered: int = 0
    answered_people: int = 0
    started: int = 0
    started_people: int = 0
    completed: int = 0
    completed_people: int = 0
    unprompted: int = 0
    unprompted_people: int = 0


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
    stage_all: dict[str, int] = field(default_factory=dict)  # up to the end of the week
    every_stage: int = 0  # people who contributed in every stage reached by the week's end
    updates: int = 0
    update_contributors: int = 0
    update_reached: int = 0
    alerts_raised: int = 0
    alerts_raised_people: int = 0
    alerts_taken: int = 0
    alerts_taken_people: int = 0
    quotes: list[tuple[str, str, str]] = field(default_factory=list)  # checkin, question, text
    # "Did we get it right?" verdicts given by the week's end, by the stage each update was
    # written in: stage -> verdict -> (answers, people)
    agreement: dict[str, dict[str, Bucket]] = field(default_factory=dict)


async def gather(
    db: Database,
    start: datetime,
    end: datetime,
    previous_start: datetime,
    reached_stages: list[str],
) -> RawWeek:
    """Counts for the week ``[start, end)``, and distributions for ``[previous_start, start)``.

    Every figure is as it stood at ``end``: nothing written, sent, answered or reached after the
    week counts (a week's digest reads the same whenever it is made). One exception the schema
    cannot undo: paused, stopped and unreachable follow people's status now where it changed
    since (no history of it is kept; only when someone became unreachable, until they are heard
    from again).
    """
    s, e, p = utc_text(start), utc_text(end), utc_text(previous_start)
    week = {"s": s, "e": e, "until": e}
    raw = RawWeek()
    async with db.read() as tx:
        for row in await tx.all(
            "SELECT CASE WHEN status = 'stopped' THEN 'stopped'"
            " WHEN unreachable_since < :e THEN 'unreachable' ELSE status END AS state,"
            " count(*) AS n, sum(CASE WHEN created_at >= :s THEN 1 ELSE 0 END) AS new"
            " FROM participants WHERE created_at < :e GROUP BY state",
            week,
        ):
            raw.people[row["state"]] = row["n"]
            raw.new_people += row["new"] or 0

        for row in await tx.all(
            "SELECT checkin_id, count(*) AS asked, count(DISTINCT participant_id) AS asked_people,"
            f" sum(CASE WHEN {ANSWERED_BY} THEN 1 ELSE 0 END) AS answered,"
            f" count(DISTINCT CASE WHEN {ANSWERED_BY} THEN participant_id END) AS ap"
            f" FROM occurrences WHERE due_at >= :s AND due_at < :e AND {ASKED_BY}"
            " GROUP BY checkin_id",
            week,
        ):
            counts = raw.checkins.setdefault(row["checkin_id"], CheckinCounts())
            counts.asked, counts.asked_people = row["asked"], row["asked_people"]
            counts.answered, counts.answered_people = row["answered"] or 0, row["ap"]
        for row in await tx.all(
            "SELECT checkin_id, count(*) AS n, count(DISTINCT participant_id) AS people,"
            " sum(CASE WHEN occurrence_id IS NULL THEN 1 ELSE 0 END) AS unprompted,"
            " count(DISTINCT CASE WHEN occurrence_id IS NULL THEN participant_id END) AS up"
            " FROM completions WHERE completed_at >= :s AND completed_at < :e"
            " GROUP BY checkin_id",
            week,
        ):
            counts = raw.checkins.setdefault(row["checkin_id"], CheckinCounts())
            counts.completed, counts.completed_people = row["n"], row["people"]
            counts.unprompted, counts.unprompted_people = row["unprompted"] or 0, row["up"]

        # Two weeks of answers (through the time index): distributions of both weeks.
        week_flag = "CASE WHEN answered_at >= :s THEN 0 ELSE 1 END"
        window = "answered_at >= :p AND answered_at < :e AND value IS NOT NULL"
        counted = COUNTED
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

        # Since the start, up to the end of the week: who contributed in which stage. Every
        # (person, stage) pair (one pass over a covering partial index), less the pairs whose
        # contributions all came after the week (found through the time index, so the latest
        # week, the usual one, costs next to nothing more); worked out once for both figures.
        pairs = (
            "SELECT participant_id, stage FROM answers INDEXED BY answers_contributions"
            " WHERE value IS NOT NULL GROUP BY participant_id, stage"
            " EXCEPT SELECT l.participant_id, l.stage FROM ("
            "  SELECT DISTINCT participant_id, stage FROM answers INDEXED BY answers_by_time"
            "  WHERE answered_at >= :e AND value IS NOT NULL) l"
            " WHERE NOT EXISTS (SELECT 1 FROM answers a INDEXED BY answers_contributions"
            "  WHERE a.participant_id = l.participant_id AND a.stage = l.stage"
            "  AND a.value IS NOT NULL AND a.answered_at < :e)"
        )
        # Rows: (stage, people) per stage, then (NULL, people at every reached stage).
        sql = (
            f"WITH pairs AS MATERIALIZED ({pairs})"
            " SELECT stage, count(*) AS n FROM pairs GROUP BY stage"
        )
        params: dict[str, Any] = {"e": e}
        if reached_stages:
            stages = {f"stage{i}": stage for i, stage in enumerate(reached_stages)}
            marks = ",".join(f":{name}" for name in stages)
            sql += (
                " UNION ALL SELECT NULL, count(*) FROM (SELECT participant_id FROM pairs"
                f" WHERE stage IN ({marks}) GROUP BY participant_id"
                " HAVING count(*) = :all) AS everyone"
            )
            params.update(stages, all=len(reached_stages))
        for row in await tx.all(sql, params):
            if row["stage"] is None:
                raw.every_stage = row["n"]
            else:
                raw.stage_all[row["stage"]] = row["n"]

        # "You said, we did": updates written this week, and how many contributors they had
        # reached by its end.
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
                "SELECT count(*) AS n FROM outbox WHERE status = 'sent' AND sent_at < ?"
                f" AND message_key IN ({marks})",
                (e, *keys),
            )
            raw.update_reached = row["n"] if row else 0

        for row in await tx.all(
            "SELECT (SELECT s.stage FROM stages s WHERE s.entered_at <= u.created_at"
            "        ORDER BY s.entered_at DESC, s.id DESC LIMIT 1) AS stage, f.verdict,"
            " count(*) AS n, count(DISTINCT f.participant_id) AS people"
            " FROM update_feedback f JOIN updates u ON u.id = f.update_id"
            " WHERE f.answered_at < ? GROUP BY 1, 2",
            (e,),
        ):
            by_verdict = raw.agreement.setdefault(row["stage"] or "", {})
            by_verdict[row["verdict"]] = Bucket(row["n"], row["people"])

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

        # Quotes: the person's own words, from people who say yes to quoting now: typed, or
        # a voice note's words they confirmed (or typed as its fix). Never a machine's
        # unchecked transcript (it may put words in their mouth) nor a coordinator's (someone
        # else's rendering, which the person never saw): those are not their words to quote.
        for row in await tx.all(
            "SELECT a.checkin_id, a.question_id, a.value, a.file_path, a.transcript"
            " FROM answers a JOIN quote_consent q ON q.participant_id = a.participant_id"
            " WHERE q.may_quote = 1 AND a.answered_at >= ? AND a.answered_at < ?"
            f" AND a.{QUOTED} AND a.value IS NOT NULL"
            " AND (a.file_path IS NULL OR a.transcript_by = 'person')"
            " ORDER BY a.answered_at, a.id",
            (s, e),
        ):
            text = row["transcript"] if row["file_path"] else json.loads(row["value"])
            if isinstance(text, str) and text.strip():
                raw.quotes.append((row["checkin_id"], row["question_id"], text))
    return raw


async def reached_stages(
    db: Database, configured: list[str], current: str, until: datetime | None = None
) -> list[str]:
    """The configured stages up to and including the one the project was in at ``until``
    (now when None). Before the first recorded stage, the first one recorded."""
    async with db.read() as tx:
        stamp = utc_text(until) if until else None
        row = await tx.one(
            "SELECT stage FROM stages"
            + (" WHERE entered_at < ?" if stamp else "")
            + " ORDER BY id DESC LIMIT 1",
            (stamp,) if stamp else (),
        )
        if row is None:
            row = await tx.one("SELECT stage FROM stages ORDER BY id LIMIT 1")
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


async def contributors(db: Database, checkin_id: str, start: datetime, end: datetime) -> list[str]:
    """Who answered ``checkin_id`` in ``[start, end)``, is still taking part and wants to hear
    what everyone said (``hear_results``): the people "what we heard" goes to."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT p.id FROM participants p WHERE p.status = 'active' AND p.hear_results = 1"
            " AND p.unreachable_since IS NULL AND EXISTS (SELECT 1 FROM answers a"
            "  WHERE a.participant_id = p.id AND a.checkin_id = ? AND a.answered_at >= ?"
            "  AND a.answered_at < ? AND a.value IS NOT NULL)"
            " ORDER BY p.id",
            (checkin_id, utc_text(start), utc_text(end)),
        )
    return [r["id"] for r in found]


async def stages_with_answers(db: Database, until: datetime) -> list[str]:
    """The stages in which anyone answered anything, up to ``until``."""
    async with db.read() as tx:
        rows = await tx.all(
            "SELECT DISTINCT stage FROM answers WHERE value IS NOT NULL AND answered_at < ?",
            (utc_text(until),),
        )
    return [row["stage"] for row in rows if row["stage"]]
