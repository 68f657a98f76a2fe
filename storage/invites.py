"""Invite codes: a ``t.me/<bot>?start=<code>`` link per cohort, for posters and QR codes.

Codes are short, random and URL-safe (only ``A-Z a-z 0-9 _ -``, as Telegram's deep links
require). ``/start <code>`` with a known code records the cohort when the person consents.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from storage.db import Database, utc_text

CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CODE_BYTES = 8  # 11 characters


def valid_code(code: str) -> bool:
    """Could this be a deep-link code at all?"""
    return bool(CODE.match(code))


async def create(db: Database, cohort: str, now: datetime) -> str:
    """A new code for ``cohort``."""
    cohort = cohort.strip()
    if not cohort:
        raise ValueError("a cohort needs a name")
    async with db.transaction() as tx:
        while True:
            code = secrets.token_urlsafe(_CODE_BYTES)
            if not await tx.one("SELECT 1 FROM invites WHERE code = ?", (code,)):
                break
        await tx.execute(
            "INSERT INTO invites (code, cohort, created_at) VALUES (?, ?, ?)",
            (code, cohort, utc_text(now)),
        )
    return code


async def cohort_of(db: Database, code: str | None) -> str | None:
    """The cohort of a known code; None for anything else."""
    if not code or not valid_code(code):
        return None
    async with db.read() as tx:
        row = await tx.one("SELECT cohort FROM invites WHERE code = ?", (code,))
    return row["cohort"] if row else None


def link(bot_username: str, code: str) -> str:
    """The deep link for a code."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"
