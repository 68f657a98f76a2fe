"""What the tokenism meter is made of: decisions, suggestions, "did we get it right?" answers and
"you said, we did" updates up to a moment, each with the stage the project was in then.

Raw rows only (no people's ids, no words); bot/digest/power.py counts them per stage and per
week under the small-number rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.db import Database, utc_text

# The stage the project was in at the moment in column ``at`` (NULL before the first one).
_STAGE_AT = (
    "(SELECT s.stage FROM stages s WHERE s.entered_at <= {at}"
    " ORDER BY s.entered_at DESC, s.id DESC LIMIT 1)"
)


@dataclass(frozen=True)
class DecisionRow:
    """A decision put to people."""

    stage: str
    opened_at: str
    closed: bool
    asked: int  # at close (0 while open)
    voted: int
    explained: bool  # the team said what it did with it (a linked update)


@dataclass(frozen=True)
class SuggestionRow:
    """A suggestion made, and whether the team adopted it."""

    stage: str
    created_at: str
    adopted: bool


@dataclass(frozen=True)
class UpdateRow:
    """A "you said, we did" update: how many contributors it had, and how many it reached."""

    stage: str
    created_at: str
    contributors: int
    reached: int


@dataclass(frozen=True)
class VerdictRow:
    """One "did we get it right?" answer (no person), by the stage of its update."""

    stage: str
    answered_at: str
    verdict: str


@dataclass
class RawPower:
    """Everything the meter counts, up to a moment."""

    decisions: list[DecisionRow] = field(default_factory=list)
    suggestions: list[SuggestionRow] = field(default_factory=list)
    updates: list[UpdateRow] = field(default_factory=list)
    verdicts: list[VerdictRow] = field(default_factory=list)


async def gather(db: Database, until: datetime) -> RawPower:
    """The meter's rows from the start up to ``until``."""
    end = utc_text(until)
    raw = RawPower()
    async with db.read() as tx:
        for row in await tx.all(
            "SELECT coalesce(d.stage, '') AS stage, d.opened_at, d.status, d.asked, d.voted,"
            " EXISTS (SELECT 1 FROM updates u WHERE u.decision_id = d.id) AS explained"
            " FROM decisions d WHERE d.opened_at < ? ORDER BY d.opened_at",
            (end,),
        ):
            raw.decisions.append(
                DecisionRow(
                    row["stage"],
                    row["opened_at"],
                    row["status"] == "closed",
                    row["asked"] or 0,
                    row["voted"] or 0,
                    bool(row["explained"]),
                )
            )
        for row in await tx.all(
            f"SELECT {_STAGE_AT.format(at='g.created_at')} AS stage, g.created_at, g.status"
            " FROM suggestions g WHERE g.created_at < ? ORDER BY g.created_at",
            (end,),
        ):
            raw.suggestions.append(
                SuggestionRow(row["stage"] or "", row["created_at"], row["status"] == "adopted")
            )
        reached = {
            row["message_key"]: row["n"]
            for row in await tx.all(
                "SELECT message_key, count(*) AS n FROM outbox WHERE message_key LIKE 'update:%'"
                " AND status = 'sent' AND sent_at < ? GROUP BY message_key",
                (end,),
            )
        }
        for row in await tx.all(
            f"SELECT u.id, {_STAGE_AT.format(at='u.created_at')} AS stage, u.created_at,"
            " u.contributors FROM updates u WHERE u.created_at < ? ORDER BY u.created_at",
            (end,),
        ):
            raw.updates.append(
                UpdateRow(
                    row["stage"] or "",
                    row["created_at"],
                    row["contributors"],
                    reached.get(f"update:{row['id']}", 0),
                )
            )
        for row in await tx.all(
            f"SELECT {_STAGE_AT.format(at='u.created_at')} AS stage, f.answered_at, f.verdict"
            " FROM update_feedback f JOIN updates u ON u.id = f.update_id"
            " WHERE f.answered_at < ? ORDER BY f.answered_at",
            (end,),
        ):
            raw.verdicts.append(VerdictRow(row["stage"] or "", row["answered_at"], row["verdict"]))
    return raw
