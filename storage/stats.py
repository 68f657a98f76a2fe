"""Project statistics for /stats, and what "asked" means (shared with the weekly digest).

Never Telegram ids: counts only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.db import Database, utc_text

# An occurrence counts as asked once Telegram confirmed its opening message (also when the
# person became unreachable afterwards), or once it was answered (/checkin can answer a nudge
# before it goes out). /stats counts asked nudges so; the weekly digest as below.
ASKED = "(sent_at IS NOT NULL OR status = 'answered')"
# The same as it stood at a moment (the named parameter ``:until``), for a past week's digest.
ANSWERED_BY = "(status = 'answered' AND answered_at < :until)"
ASKED_BY = f"(sent_at < :until OR {ANSWERED_BY})"


@dataclass(frozen=True)
class Stats:
    """What /stats shows."""

    active: int = 0
    paused: int = 0
    stopped: int = 0
    unreachable: int = 0
    answers_this_week: int = 0
    # check-in -> (answered, asked); stage -> (people, check-ins completed)
    by_checkin: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_stage: dict[str, tuple[int, int]] = field(default_factory=dict)
    by_cohort: dict[str, int] = field(default_factory=dict)
    # stage -> (answered, asked) for nudged check-ins that fell due in that stage
    stage_rates: dict[str, tuple[int, int]] = field(default_factory=dict)


async def compute(db: Database, week_start: datetime) -> Stats:
    """Participation now, answers since ``week_start``, response rates per check-in and stage."""
    async with db.read() as tx:
        people = await tx.all(
            "SELECT CASE WHEN unreachable_since IS NOT NULL THEN 'unreachable' ELSE status END"
            " AS state, count(*) AS n FROM participants GROUP BY state"
        )
        answers = await tx.one(
            "SELECT count(*) AS n FROM answers WHERE answered_at >= ? AND value IS NOT NULL",
            (utc_text(week_start),),
        )
        # Asked = nudges Telegram confirmed delivering (or /ask), or that were answered anyway;
        # answered = completed. A nudge whose delivery stayed uncertain is not counted.
        checkins = await tx.all(
            "SELECT checkin_id, sum(CASE WHEN status = 'answered' THEN 1 ELSE 0 END) AS answered,"
            " count(*) AS asked"
            f" FROM occurrences WHERE {ASKED} GROUP BY checkin_id ORDER BY checkin_id"
        )
        stages = await tx.all(
            "SELECT stage, count(DISTINCT participant_id) AS people, count(*) AS completed"
            " FROM completions GROUP BY stage ORDER BY stage"
        )
        # An occurrence belongs to the stage the project was in when it fell due.
        stage_rates = await tx.all(
            "SELECT (SELECT s.stage FROM stages s WHERE s.entered_at <= o.due_at"
            "        ORDER BY s.entered_at DESC, s.id DESC LIMIT 1) AS stage,"
            " sum(CASE WHEN o.status = 'answered' THEN 1 ELSE 0 END) AS answered, count(*) AS asked"
            f" FROM occurrences o WHERE {ASKED} GROUP BY 1"
        )
        cohorts = await tx.all(
            "SELECT coalesce(cohort, '') AS cohort, count(*) AS n FROM participants"
            " GROUP BY cohort ORDER BY cohort"
        )
    counts = {row["state"]: row["n"] for row in people}
    return Stats(
        active=counts.get("active", 0),
        paused=counts.get("paused", 0),
        stopped=counts.get("stopped", 0),
        unreachable=counts.get("unreachable", 0),
        answers_this_week=answers["n"] if answers else 0,
        by_checkin={r["checkin_id"]: (r["answered"], r["asked"]) for r in checkins},
        by_stage={r["stage"]: (r["people"], r["completed"]) for r in stages},
        stage_rates={r["stage"] or "": (r["answered"], r["asked"]) for r in stage_rates},
        by_cohort={r["cohort"]: r["n"] for r in cohorts},
    )
