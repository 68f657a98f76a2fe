"""Decisions put to participants: who was asked, their votes, the result and what the team did.

Putting a decision to people stores it, the people asked (so its result goes to each of them
and turnout has a denominator) and one ballot per person in the outbox (key ``decision:<id>``,
with its buttons), in one transaction. A vote is one row per person and option; it can change
until the decision closes. Closing is one conditional update, so however many workers try, one
closes it: it records the counts and queues the result to everyone asked (key
``decision:<id>:result``) in the same transaction. What the team did with it is a "you said,
we did" update linked by ``updates.decision_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conversations.decisions import EVERYONE, Method, Proposal, count
from storage import outbox, participants
from storage.db import Database, Transaction, utc_text

KEY_PREFIX = "decision:"


def ballot_key(decision_id: int) -> str:
    """The outbox key of a decision's ballots."""
    return f"{KEY_PREFIX}{decision_id}"


def result_key(decision_id: int) -> str:
    """The outbox key of a decision's result."""
    return f"{KEY_PREFIX}{decision_id}:result"


@dataclass(frozen=True)
class Decision:
    """One decision as stored."""

    id: int
    key: str | None
    question: str
    options: list[str]
    method: Method
    audience: str
    stage: str | None
    opened_at: str
    closes_at: str
    status: str
    asked: int | None = None
    voted: int | None = None
    tally: list[int] | None = None
    update_id: int | None = None  # the update saying what the team did

    @property
    def is_open(self) -> bool:
        """Votes may still be cast or changed."""
        return self.status == "open"


def _decision(row: Any) -> Decision:
    return Decision(
        id=int(row["id"]),
        key=row["key"],
        question=row["question"],
        options=json.loads(row["options"]),
        method=Method(row["method"]),
        audience=row["audience"],
        stage=row["stage"],
        opened_at=row["opened_at"],
        closes_at=row["closes_at"],
        status=row["status"],
        asked=row["asked"],
        voted=row["voted"],
        tally=json.loads(row["tally"]) if row["tally"] else None,
        update_id=row["update_id"],
    )


_SELECT = (
    "SELECT d.*, (SELECT max(u.id) FROM updates u WHERE u.decision_id = d.id) AS update_id"
    " FROM decisions d"
)


def _who(
    audience: str, consent_version: int | participants.ConsentVersions
) -> tuple[str, tuple[Any, ...]]:
    """SQL selecting the ids of the people a decision asks, and its parameters."""
    consented, versions = participants.consent_versions(consent_version).current()
    base = (
        f"SELECT p.id FROM participants p WHERE p.status = 'active' AND {consented}"
        " AND p.unreachable_since IS NULL"
    )
    if audience == EVERYONE:
        return base, versions
    kind, _, name = audience.partition(":")
    if kind == "cohort":
        return f"{base} AND p.cohort = ?", (*versions, name)
    if kind == "checkin":
        return (
            f"{base} AND EXISTS (SELECT 1 FROM answers a WHERE a.participant_id = p.id"
            " AND a.checkin_id = ? AND a.value IS NOT NULL)",
            (*versions, name),
        )
    raise ValueError(f"unknown audience {audience!r}")


async def audience_size(
    db: Database, audience: str, consent_version: int | participants.ConsentVersions
) -> int:
    """How many people a decision for ``audience`` would ask now."""
    sql, params = _who(audience, consent_version)
    async with db.read() as tx:
        rows = await tx.all(sql, params)
    return len(rows)


@dataclass(frozen=True)
class Opened:
    """A decision just put to people."""

    id: int
    asked: int


class AlreadyPut(Exception):
    """The config's decision with this id was put to people before."""


async def put(
    db: Database,
    proposal: Proposal,
    *,
    stage: str,
    author: str,
    consent_version: int | participants.ConsentVersions,
    now: datetime,
    closes_at: datetime,
    ballot: Callable[[int, str | None], tuple[str, list[list[tuple[str, str]]]]],
) -> Opened:
    """Store the decision, who is asked and their ballots (``ballot(id, language)`` gives the
    text and buttons in a person's language), in one transaction. Raises :class:`AlreadyPut`
    for a config decision put before."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        if proposal.key is not None and await tx.one(
            "SELECT 1 FROM decisions WHERE key = ?", (proposal.key,)
        ):
            raise AlreadyPut(proposal.key)
        decision_id = await tx.insert(
            "INSERT INTO decisions (key, question, options, method, audience, stage, author,"
            " created_at, opened_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                proposal.key,
                proposal.question,
                json.dumps(proposal.options, ensure_ascii=False),
                str(proposal.method),
                proposal.who,
                stage,
                author,
                stamp,
                stamp,
                utc_text(closes_at),
            ),
        )
        assert decision_id is not None
        sql, params = _who(proposal.who, consent_version)
        people = [row["id"] for row in await tx.all(sql, params)]
        await tx.executemany(
            "INSERT INTO decision_voters (decision_id, participant_id) VALUES (?, ?)",
            [(decision_id, person) for person in people],
        )
        number = decision_id
        await outbox.queue_in(
            tx,
            people,
            ballot_key(number),
            lambda language: ballot(number, language)[0],
            now,
            lambda language: json.dumps(ballot(number, language)[1], ensure_ascii=False),
        )
    return Opened(decision_id, len(people))


async def get(db: Database, decision_id: int) -> Decision | None:
    """A decision by number."""
    async with db.read() as tx:
        row = await tx.one(f"{_SELECT} WHERE d.id = ?", (decision_id,))
    return _decision(row) if row else None


async def recent(db: Database, limit: int = 10) -> list[Decision]:
    """The latest decisions, open ones first."""
    async with db.read() as tx:
        rows = await tx.all(
            f"{_SELECT} ORDER BY CASE WHEN d.status = 'open' THEN 0 ELSE 1 END, d.id DESC LIMIT ?",
            (limit,),
        )
    return [_decision(row) for row in rows]


async def by_key(db: Database, key: str) -> Decision | None:
    """The decision put from the config's ``[[decisions]]`` entry ``key``, if it was."""
    async with db.read() as tx:
        row = await tx.one(f"{_SELECT} WHERE d.key = ?", (key,))
    return _decision(row) if row else None


async def put_keys(db: Database) -> set[str]:
    """The config decisions already put to people."""
    async with db.read() as tx:
        rows = await tx.all("SELECT key FROM decisions WHERE key IS NOT NULL")
    return {row["key"] for row in rows}


@dataclass(frozen=True)
class Vote:
    """What a press did: ``status`` is ok, closed, not_asked or gone; ``chosen`` the person's
    options now."""

    status: str
    chosen: frozenset[int] = frozenset()
    decision: Decision | None = None


async def vote(
    db: Database, decision_id: int, participant_id: str, option: int, on: bool, now: datetime
) -> Vote:
    """Choose (``on``) or unchoose an option. Plurality: choosing replaces the person's choice.
    Pressing the same button twice (or Telegram repeating the press) changes nothing more."""
    async with db.transaction() as tx:
        row = await tx.one(f"{_SELECT} WHERE d.id = ?", (decision_id,))
        if row is None:
            return Vote("gone")
        decision = _decision(row)
        if not 0 <= option < len(decision.options):
            return Vote("gone", decision=decision)
        asked = await tx.one(
            "SELECT 1 FROM decision_voters WHERE decision_id = ? AND participant_id = ?",
            (decision_id, participant_id),
        )
        if asked is None:
            return Vote("not_asked", decision=decision)
        if decision.is_open:
            if not on:
                await tx.execute(
                    "DELETE FROM votes WHERE decision_id = ? AND participant_id = ? AND option = ?",
                    (decision_id, participant_id, option),
                )
            else:
                if decision.method is Method.PLURALITY:  # one choice: it replaces the last
                    await tx.execute(
                        "DELETE FROM votes WHERE decision_id = ? AND participant_id = ?"
                        " AND option != ?",
                        (decision_id, participant_id, option),
                    )
                await tx.execute(
                    "INSERT INTO votes (decision_id, participant_id, option, voted_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (decision_id, participant_id, option, utc_text(now)),
                )
        chosen = await _chosen(tx, decision_id, participant_id)
    return Vote("ok" if decision.is_open else "closed", chosen, decision)


async def _chosen(tx: Transaction, decision_id: int, participant_id: str) -> frozenset[int]:
    rows = await tx.all(
        "SELECT option FROM votes WHERE decision_id = ? AND participant_id = ?",
        (decision_id, participant_id),
    )
    return frozenset(int(row["option"]) for row in rows)


async def chosen(db: Database, decision_id: int, participant_id: str) -> frozenset[int]:
    """The options a person has chosen."""
    async with db.read() as tx:
        return await _chosen(tx, decision_id, participant_id)


async def close(
    db: Database,
    decision_id: int,
    now: datetime,
    message: Callable[[Decision, list[int], int, int, str | None], str],
) -> Decision | None:
    """Close a decision if it is open: record the counts and queue ``message(decision,
    counts, voted, asked, language)`` to everyone asked who can still hear it, each in their
    language. None if it was closed already."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        closed = await tx.execute(
            "UPDATE decisions SET status = 'closed', closed_at = ?"
            " WHERE id = ? AND status = 'open'",
            (stamp, decision_id),
        )
        if not closed:
            return None
        row = await tx.one(f"{_SELECT} WHERE d.id = ?", (decision_id,))
        assert row is not None
        decision = _decision(row)
        votes = await tx.all(
            "SELECT participant_id, option FROM votes WHERE decision_id = ?", (decision_id,)
        )
        counts, voted = count(
            ((r["participant_id"], int(r["option"])) for r in votes), len(decision.options)
        )
        asked = await tx.all(
            "SELECT v.participant_id, (p.status = 'active' AND p.unreachable_since IS NULL) AS ok"
            " FROM decision_voters v JOIN participants p ON p.id = v.participant_id"
            " WHERE v.decision_id = ?",
            (decision_id,),
        )
        await tx.execute(
            "UPDATE decisions SET asked = ?, voted = ?, tally = ? WHERE id = ?",
            (len(asked), voted, json.dumps(counts), decision_id),
        )
        closed_decision = Decision(
            **{
                **decision.__dict__,
                "status": "closed",
                "asked": len(asked),
                "voted": voted,
                "tally": counts,
            }
        )
        asked_count = len(asked)
        await outbox.queue_in(
            tx,
            [r["participant_id"] for r in asked if r["ok"]],
            result_key(decision_id),
            lambda language: message(closed_decision, counts, voted, asked_count, language),
            now,
        )
    return closed_decision


async def due_to_close(db: Database, now: datetime) -> list[int]:
    """Open decisions whose closing time has come."""
    async with db.read() as tx:
        rows = await tx.all(
            "SELECT id FROM decisions WHERE status = 'open' AND closes_at <= ? ORDER BY id",
            (utc_text(now),),
        )
    return [int(row["id"]) for row in rows]


async def untold(db: Database) -> list[Decision]:
    """Closed decisions whose result the team has not been shown yet."""
    async with db.read() as tx:
        rows = await tx.all(
            f"{_SELECT} WHERE d.status = 'closed' AND d.team_told_at IS NULL ORDER BY d.id"
        )
    return [_decision(row) for row in rows]


async def mark_told(db: Database, decision_id: int, now: datetime) -> None:
    """The team has seen the result."""
    await db.write(
        "UPDATE decisions SET team_told_at = ? WHERE id = ?", (utc_text(now), decision_id)
    )
