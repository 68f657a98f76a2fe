"""Safeguarding alerts and the "offer support at most once per conversation" bookkeeping.

An alert names a participant only through their pseudonym; the words they wrote are kept
(``shared_text``) only when the project sets ``share_text_in_alerts``. Alerts belong to the
participant (``ON DELETE CASCADE``), so /delete erases them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Database, utc_text


@dataclass(frozen=True)
class Alert:
    """One alert as coordinators see it."""

    id: int
    pseudonym: str
    checkin_id: str | None
    question_id: str | None
    category: str
    shared_text: str | None
    raised_at: str
    message_id: int | None
    taken_by: str | None
    taken_at: str | None


_SELECT = (
    "SELECT a.id, p.pseudonym, a.checkin_id, a.question_id, a.category, a.shared_text,"
    " a.raised_at, a.message_id, a.taken_by, a.taken_at"
    " FROM alerts a JOIN participants p ON p.id = a.participant_id"
)


async def offer_support(
    db: Database, participant_id: str, session_id: str | None, now: datetime, every_hours: float
) -> bool:
    """Claim the right to offer support now: True at most once per check-in session, or (outside
    one) once every ``every_hours``. Atomic, so two messages at once cannot both claim it."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        if session_id is not None:
            claimed = await tx.execute(
                "UPDATE sessions SET support_offered = 1"
                " WHERE session_id = ? AND support_offered = 0",
                (session_id,),
            )
        else:
            cutoff = utc_text(now - timedelta(hours=every_hours))
            claimed = await tx.execute(
                "UPDATE participants SET support_offered_at = ?"
                " WHERE id = ? AND (support_offered_at IS NULL OR support_offered_at < ?)",
                (stamp, participant_id, cutoff),
            )
        if claimed and session_id is not None:
            await tx.execute(
                "UPDATE participants SET support_offered_at = ? WHERE id = ?",
                (stamp, participant_id),
            )
    return bool(claimed)


async def create(
    db: Database,
    participant_id: str,
    category: str,
    now: datetime,
    *,
    checkin_id: str | None = None,
    question_id: str | None = None,
    shared_text: str | None = None,
) -> Alert:
    """Store a new, untaken alert."""
    async with db.transaction() as tx:
        alert_id = await tx.insert(
            "INSERT INTO alerts (participant_id, checkin_id, question_id, category, shared_text,"
            " raised_at) VALUES (?, ?, ?, ?, ?, ?)",
            (participant_id, checkin_id, question_id, category, shared_text, utc_text(now)),
        )
        row = await tx.one(_SELECT + " WHERE a.id = ?", (alert_id,))
    assert row is not None
    return Alert(**dict(row))


async def set_message(db: Database, alert_id: int, message_id: int) -> None:
    """Remember the alert's message in the coordinators' chat."""
    async with db.transaction() as tx:
        await tx.execute("UPDATE alerts SET message_id = ? WHERE id = ?", (message_id, alert_id))


async def get(db: Database, alert_id: int) -> Alert | None:
    """One alert, or None (it may have gone with the participant's /delete)."""
    async with db.read() as tx:
        row = await tx.one(_SELECT + " WHERE a.id = ?", (alert_id,))
    return Alert(**dict(row)) if row else None


async def take(db: Database, alert_id: int, who: str, now: datetime) -> tuple[bool, Alert | None]:
    """Record that ``who`` is dealing with the alert, unless someone already is.

    Returns (taken now, the alert as it stands); the alert is None if it no longer exists.
    """
    async with db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE alerts SET taken_by = ?, taken_at = ? WHERE id = ? AND taken_at IS NULL",
            (who, utc_text(now), alert_id),
        )
        row = await tx.one(_SELECT + " WHERE a.id = ?", (alert_id,))
    return bool(changed), (Alert(**dict(row)) if row else None)


async def open_alerts(db: Database, limit: int = 50) -> list[Alert]:
    """Alerts nobody has taken yet, oldest first."""
    async with db.read() as tx:
        found = await tx.all(
            _SELECT + " WHERE a.taken_at IS NULL ORDER BY a.raised_at, a.id LIMIT ?", (limit,)
        )
    return [Alert(**dict(row)) for row in found]


@dataclass(frozen=True)
class AlertCounts:
    """Alerts raised in a period, how many of those were taken, and how many are open now."""

    raised: int
    taken: int
    open_now: int


async def count(db: Database, since: datetime, until: datetime | None = None) -> AlertCounts:
    """Counts for digests and /stats: raised in [since, until), of those taken; open now."""
    upper = utc_text(until) if until is not None else "9999"
    async with db.read() as tx:
        period = await tx.one(
            "SELECT count(*) AS raised, count(taken_at) AS taken FROM alerts"
            " WHERE raised_at >= ? AND raised_at < ?",
            (utc_text(since), upper),
        )
        still_open = await tx.one("SELECT count(*) AS n FROM alerts WHERE taken_at IS NULL")
    assert period is not None and still_open is not None
    return AlertCounts(period["raised"], period["taken"], still_open["n"])


async def message_ids(db: Database, participant_id: str) -> list[int]:
    """Where this person's alerts were posted in the coordinators' chat (to tidy on /delete)."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT message_id FROM alerts WHERE participant_id = ? AND message_id IS NOT NULL",
            (participant_id,),
        )
    return [row["message_id"] for row in found]
