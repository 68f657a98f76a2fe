"""The involvement record: what each person has given, for recognition or payment.

Per participant, over a period: check-ins completed (per stage), reflections given (non-skipped
answers to reflection questions; a reflection's follow-up is part of the same reflection),
suggestions made (/suggest), decisions voted in (/decide), 'you said, we did' updates
received, and an estimate of the
minutes given (the configured
``minutes`` of each completed check-in; check-ins no longer configured count 0).
Reports use the pseudonym only; who is behind a pseudonym stays with the person (/mydata).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from storage.db import Database, utc_text

FOLLOW_UP_SUFFIX = ".follow_up"
_FAR_PAST, _FAR_FUTURE = "0000", "9999"
BOM = "\ufeff"


@dataclass
class Involvement:
    """One person's record."""

    pseudonym: str
    cohort: str | None = None
    by_stage: dict[str, int] = field(default_factory=dict)
    reflections: int = 0
    suggestions: int = 0
    votes: int = 0  # decisions voted in
    updates_received: int = 0
    minutes: int = 0

    @property
    def checkins_completed(self) -> int:
        """Check-ins finished, over every stage."""
        return sum(self.by_stage.values())

    @property
    def empty(self) -> bool:
        """Nothing given or received in the period."""
        return not (
            self.checkins_completed
            or self.reflections
            or self.suggestions
            or self.votes
            or self.updates_received
        )

    def as_dict(self) -> dict[str, Any]:
        """For the /mydata file."""
        return {
            "pseudonym": self.pseudonym,
            "cohort": self.cohort,
            "checkins_completed": self.checkins_completed,
            "checkins_by_stage": dict(self.by_stage),
            "reflections": self.reflections,
            "suggestions": self.suggestions,
            "decisions_voted_in": self.votes,
            "updates_received": self.updates_received,
            "minutes": self.minutes,
        }


def _bounds(since: datetime | None, until: datetime | None) -> tuple[str, str]:
    return (
        utc_text(since) if since else _FAR_PAST,
        utc_text(until) if until else _FAR_FUTURE,
    )


async def records(
    db: Database,
    minutes_of: Mapping[str, int],
    since: datetime | None = None,
    until: datetime | None = None,
    participant_id: str | None = None,
) -> list[Involvement]:
    """Every participant's record (or one's) for ``since <= time < until``, by pseudonym."""
    low, high = _bounds(since, until)
    who = " AND participant_id = ?" if participant_id else ""
    extra: tuple[str, ...] = (participant_id,) if participant_id else ()
    async with db.read() as tx:
        people = await tx.all(
            "SELECT id, pseudonym, cohort FROM participants"
            + (" WHERE id = ?" if participant_id else "")
            + " ORDER BY pseudonym",
            extra,
        )
        completions = await tx.all(
            "SELECT participant_id, stage, checkin_id, count(*) AS n FROM completions"
            f" WHERE completed_at >= ? AND completed_at < ?{who}"
            " GROUP BY participant_id, stage, checkin_id",
            (low, high, *extra),
        )
        reflections = await tx.all(
            "SELECT participant_id, count(*) AS n FROM answers"
            " WHERE kind = 'reflection' AND value IS NOT NULL AND question_id NOT LIKE ?"
            f" AND answered_at >= ? AND answered_at < ?{who} GROUP BY participant_id",
            (f"%{FOLLOW_UP_SUFFIX}", low, high, *extra),
        )
        suggested = await tx.all(
            "SELECT participant_id, count(*) AS n FROM suggestions"
            f" WHERE created_at >= ? AND created_at < ?{who} GROUP BY participant_id",
            (low, high, *extra),
        )
        # A decision counts once, when the person first voted in it (a changed vote is not
        # another).
        voted = await tx.all(
            "SELECT participant_id, count(*) AS n FROM (SELECT participant_id, decision_id,"
            " min(voted_at) AS first FROM votes GROUP BY participant_id, decision_id) v"
            f" WHERE first >= ? AND first < ?{who} GROUP BY participant_id",
            (low, high, *extra),
        )
        received = await tx.all(
            "SELECT participant_id, count(*) AS n FROM outbox"
            " WHERE message_key LIKE 'update:%' AND status = 'sent'"
            f" AND sent_at >= ? AND sent_at < ?{who} GROUP BY participant_id",
            (low, high, *extra),
        )
    found = {r["id"]: Involvement(r["pseudonym"], r["cohort"]) for r in people}
    for row in completions:
        record = found.get(row["participant_id"])
        if record is None:
            continue
        record.by_stage[row["stage"]] = record.by_stage.get(row["stage"], 0) + row["n"]
        record.minutes += row["n"] * int(minutes_of.get(row["checkin_id"], 0))
    for row in reflections:
        if row["participant_id"] in found:
            found[row["participant_id"]].reflections = row["n"]
    for row in suggested:
        if row["participant_id"] in found:
            found[row["participant_id"]].suggestions = row["n"]
    for row in voted:
        if row["participant_id"] in found:
            found[row["participant_id"]].votes = row["n"]
    for row in received:
        if row["participant_id"] in found:
            found[row["participant_id"]].updates_received = row["n"]
    return list(found.values())


async def record_of(
    db: Database, participant_id: str, minutes_of: Mapping[str, int]
) -> Involvement | None:
    """One person's record over all time (for /mydata)."""
    found = await records(db, minutes_of, participant_id=participant_id)
    return found[0] if found else None


def columns(stages: Sequence[str]) -> list[str]:
    """The CSV header: one check-ins column per project stage."""
    return [
        "pseudonym",
        "cohort",
        "checkins_completed",
        *(f"checkins_{stage}" for stage in stages),
        "reflections",
        "suggestions",
        "decisions_voted_in",
        "updates_received",
        "minutes",
    ]


def write_csv(
    found: Iterable[Involvement], stages: Sequence[str], out: TextIO, bom: bool = False
) -> int:
    """Write one row per person who gave or received anything; return how many rows.

    With ``bom``, a byte-order mark comes first, so Excel opens the file as UTF-8.
    """
    if bom:
        out.write(BOM)
    writer = csv.writer(out)
    writer.writerow(columns(stages))
    count = 0
    for record in found:
        if record.empty:
            continue
        writer.writerow(
            [
                record.pseudonym,
                record.cohort or "",
                record.checkins_completed,
                *(record.by_stage.get(stage, 0) for stage in stages),
                record.reflections,
                record.suggestions,
                record.votes,
                record.updates_received,
                record.minutes,
            ]
        )
        count += 1
    return count
