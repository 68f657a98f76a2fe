"""'You said, we did': updates from coordinators to the people who contributed.

An update is linked to a check-in, one question of it, or a theme. Its *contributors* are the
distinct participants with a non-skipped answer to that check-in (or question); for a theme,
everyone with a non-skipped answer in the stage the project is in. It is sent to the
contributors who are still taking part (active, current consent, reachable), through the
outbox under the key ``update:<id>``, so each person gets it at most once. How many of the
contributors it reached is the loop-closure rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage import outbox, participants
from storage.db import Database, Transaction, utc_text

KEY_PREFIX = "update:"


@dataclass(frozen=True)
class Link:
    """What an update answers: a check-in, one of its questions, or a theme in a stage."""

    checkin_id: str | None = None
    question_id: str | None = None
    theme: str | None = None
    stage: str | None = None  # for a theme: the stage whose contributors receive it
    decision_id: int | None = None  # what the team did with a decision: everyone asked


@dataclass(frozen=True)
class Audience:
    """Who contributed, and which of them may be sent the update now."""

    contributors: list[str]
    recipients: list[str]


@dataclass(frozen=True)
class Published:
    """A stored update and how many messages were queued for it."""

    id: int
    contributors: int
    queued: int

    @property
    def key(self) -> str:
        """The outbox key of its messages."""
        return key_of(self.id)


def key_of(update_id: int) -> str:
    """The outbox message key for an update."""
    return f"{KEY_PREFIX}{update_id}"


def _condition(link: Link) -> tuple[str, tuple[str, ...]]:
    if link.checkin_id is not None:
        if link.question_id is not None:
            return "a.checkin_id = ? AND a.question_id = ?", (link.checkin_id, link.question_id)
        return "a.checkin_id = ?", (link.checkin_id,)
    if link.stage is not None:
        return "a.stage = ?", (link.stage,)
    raise ValueError("an update links to a check-in, a question or a theme in a stage")


async def _audience(
    tx: Transaction, link: Link, consent_version: int | participants.ConsentVersions
) -> Audience:
    if link.decision_id is not None:
        took_part = (
            "SELECT 1 FROM decision_voters v WHERE v.participant_id = p.id AND v.decision_id = ?"
        )
        params: tuple[object, ...] = (link.decision_id,)
    else:
        where, params = _condition(link)
        took_part = (
            "SELECT 1 FROM answers a WHERE a.participant_id = p.id"
            f" AND a.value IS NOT NULL AND {where}"
        )
    consented, versions = participants.consent_versions(consent_version).current()
    found = await tx.all(
        f"SELECT p.id, (p.status = 'active' AND {consented}"
        " AND p.unreachable_since IS NULL) AS ok FROM participants p"
        f" WHERE EXISTS ({took_part}) ORDER BY p.id",
        (*versions, *params),
    )
    return Audience([r["id"] for r in found], [r["id"] for r in found if r["ok"]])


async def audience(
    db: Database, link: Link, consent_version: int | participants.ConsentVersions
) -> Audience:
    """The contributors to what ``link`` points at, and who of them would receive it."""
    async with db.read() as tx:
        return await _audience(tx, link, consent_version)


async def publish(
    db: Database,
    *,
    author: str,
    link: Link,
    text: str,
    message: outbox.Text,
    consent_version: int | participants.ConsentVersions,
    now: datetime,
) -> Published:
    """Store the update and queue ``message`` for its recipients, in one transaction."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        found = await _audience(tx, link, consent_version)
        update_id = await tx.insert(
            "INSERT INTO updates (created_at, author, checkin_id, question_id, theme, text,"
            " contributors, decision_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stamp,
                author,
                link.checkin_id,
                link.question_id,
                link.theme,
                text,
                len(found.contributors),
                link.decision_id,
            ),
        )
        assert update_id is not None
        key = key_of(update_id)
        await outbox.queue_in(tx, found.recipients, key, message, now)
    return Published(update_id, len(found.contributors), len(found.recipients))


async def progress(db: Database, update_id: int) -> tuple[int, int]:
    """(sent, still waiting) messages of an update; also stores ``reached``."""
    key = key_of(update_id)
    async with db.transaction() as tx:
        row = await tx.one(
            "SELECT coalesce(sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS sent,"
            " coalesce(sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS waiting"
            " FROM outbox WHERE message_key = ?",
            (key,),
        )
        assert row is not None
        await tx.execute("UPDATE updates SET reached = ? WHERE id = ?", (row["sent"], update_id))
    return int(row["sent"]), int(row["waiting"])


# -- "Did we get it right?": each person's verdict on an update -------------------------------

VERDICTS = ("yes", "partly", "no")


@dataclass(frozen=True)
class Agreement:
    """How the people an update reached judged it."""

    yes: int = 0
    partly: int = 0
    no: int = 0
    reasons: int = 0  # Partly and No that said what we missed

    @property
    def answered(self) -> int:
        return self.yes + self.partly + self.no


async def record_verdict(
    db: Database, update_id: int, participant_id: str, verdict: str, now: datetime
) -> bool:
    """Store (or change) a person's verdict; False if there is no such update."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    async with db.transaction() as tx:
        if await tx.one("SELECT id FROM updates WHERE id = ?", (update_id,)) is None:
            return False
        await tx.execute(
            "INSERT INTO update_feedback (update_id, participant_id, verdict, answered_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (update_id, participant_id) DO UPDATE SET"
            " verdict = excluded.verdict, answered_at = excluded.answered_at",
            (update_id, participant_id, verdict, utc_text(now)),
        )
    return True


async def ask_reason(db: Database, update_id: int, participant_id: str, prompt_id: int) -> None:
    """Remember the message that asked what we missed (a reply to it is the reason)."""
    await db.write(
        "UPDATE update_feedback SET prompt_id = ? WHERE update_id = ? AND participant_id = ?",
        (prompt_id, update_id, participant_id),
    )


async def record_reason(
    db: Database,
    participant_id: str,
    prompt_id: int,
    now: datetime,
    *,
    text: str | None = None,
    file_path: str | None = None,
) -> str | None:
    """Store what we missed, given as a reply to the message ``prompt_id``. Returns the voice
    note it replaces (to delete), or "" when stored; None if that message asked nothing."""
    async with db.transaction() as tx:
        row = await tx.one(
            "SELECT update_id, file_path FROM update_feedback"
            " WHERE participant_id = ? AND prompt_id = ?",
            (participant_id, prompt_id),
        )
        if row is None:
            return None
        await tx.execute(
            "UPDATE update_feedback SET reason = ?, file_path = ?, answered_at = ?"
            " WHERE update_id = ? AND participant_id = ?",
            (text, file_path, utc_text(now), row["update_id"], participant_id),
        )
    return row["file_path"] or ""


async def agreement(db: Database) -> dict[int, Agreement]:
    """Every update's verdicts so far, by update id."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT update_id,"
            " sum(CASE WHEN verdict = 'yes' THEN 1 ELSE 0 END) AS yes,"
            " sum(CASE WHEN verdict = 'partly' THEN 1 ELSE 0 END) AS partly,"
            " sum(CASE WHEN verdict = 'no' THEN 1 ELSE 0 END) AS no,"
            " sum(CASE WHEN verdict <> 'yes' AND (reason IS NOT NULL OR file_path IS NOT NULL)"
            "  THEN 1 ELSE 0 END) AS reasons"
            " FROM update_feedback GROUP BY update_id ORDER BY update_id"
        )
    return {
        int(r["update_id"]): Agreement(
            int(r["yes"]), int(r["partly"]), int(r["no"]), int(r["reasons"])
        )
        for r in found
    }
