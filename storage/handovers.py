"""Peer researchers' drafts waiting for a coordinator: an update or a decision to send.

Stored, not held in memory, so a draft survives a restart and any webhook worker can act on
the coordinator's press. Taking one is a single ``DELETE ... RETURNING``: of two presses (a
double tap, two coordinators, two workers) exactly one gets the draft and the other "gone".
The draft is the team's own text (no participant's words); the author's chat is a team
member's, kept only to tell them what became of it. Drafts nobody acts on go after
:data:`KEPT`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from storage.db import Database, utc_text

Kind = Literal["update", "decision"]
KEPT = timedelta(days=30)


@dataclass(frozen=True)
class Handover:
    """A draft waiting for a coordinator: what it is, and who wrote it."""

    draft: dict[str, Any]
    author_chat: int


async def hand_over(
    db: Database, kind: Kind, draft: dict[str, Any], author_chat: int, now: datetime
) -> str:
    """Keep ``draft`` for the coordinators; returns the random token their buttons carry."""
    token = secrets.token_hex(8)
    await db.write(
        "INSERT INTO handovers (token, kind, draft, author_chat, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token, kind, json.dumps(draft), author_chat, utc_text(now)),
    )
    return token


async def take(db: Database, kind: Kind, token: str) -> Handover | None:
    """The draft behind ``token``, removed; None if it was taken already (or never was)."""
    async with db.transaction() as tx:
        row = await tx.one(
            "DELETE FROM handovers WHERE token = ? AND kind = ? RETURNING draft, author_chat",
            (token, kind),
        )
    return Handover(json.loads(row["draft"]), row["author_chat"]) if row else None


async def expire(db: Database, now: datetime) -> int:
    """Forget drafts older than :data:`KEPT`; returns how many."""
    return await db.write("DELETE FROM handovers WHERE created_at < ?", (utc_text(now - KEPT),))
