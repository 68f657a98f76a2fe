"""The audit log: every coordinator action and every refusal (who, what, when; never content)."""

from __future__ import annotations

from datetime import datetime

from storage.db import Database, utc_text


async def record(
    db: Database, actor: str, action: str, allowed: bool, now: datetime, detail: str = ""
) -> None:
    """Record an admin action or a refusal (never message content)."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO audit_log (at, actor, action, detail, allowed) VALUES (?, ?, ?, ?, ?)",
            (utc_text(now), actor, action, detail, int(allowed)),
        )
