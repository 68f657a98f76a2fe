"""The sending budget shared by workers on PostgreSQL: one ``send_budget`` row per token bucket.

bot/budget.py's ``PostgresBudget`` decides; these are its statements. Rows: ``overall`` (the
bot's messages to all chats), ``chat:<chat id>`` (one chat's), and ``hold`` (a 429's flood
wait: nothing is sent until its ``updated_at``). ``tokens`` is the bucket's level when it was
last written and ``updated_at`` that moment, in seconds since the epoch by the database's clock
(``clock_timestamp()``: the time the statement runs, not the start of the transaction), so the
workers' own clocks need not agree.

A take is one transaction: :func:`lock` the rows it reads (``FOR UPDATE``, always in the order
of their keys, so two takers never wait for each other crosswise), decide in Python,
:func:`save` what changed, commit. PostgreSQL only (SQLite has no ``clock_timestamp()``; one
process there keeps its budget in memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.db import Database, Transaction

OVERALL = "overall"
HOLD = "hold"
CHAT_PREFIX = "chat:"

# The database's clock, in seconds since the epoch (extract gives numeric: made a float).
NOW = "extract(epoch FROM clock_timestamp())::double precision"


def chat_bucket(chat: str) -> str:
    """The row of one chat's bucket."""
    return CHAT_PREFIX + chat


async def lock(
    tx: Transaction, buckets: Sequence[str]
) -> tuple[dict[str, tuple[float, float]], float]:
    """Lock the rows of ``buckets`` that exist, for this transaction; return them as
    {bucket: (tokens, updated_at)} and the database's clock once they are locked."""
    rows = await tx.all(
        "SELECT bucket, tokens, updated_at FROM send_budget WHERE bucket = ANY(?)"
        " ORDER BY bucket FOR UPDATE",
        (list(buckets),),
    )
    now = await tx.one(f"SELECT {NOW}")
    assert now is not None
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}, float(now[0])


async def create(tx: Transaction, rows: Iterable[tuple[str, float, float]]) -> None:
    """Add buckets (bucket, tokens, updated_at) that no one has added meanwhile."""
    await tx.executemany(
        "INSERT INTO send_budget (bucket, tokens, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket) DO NOTHING",
        list(rows),
    )


async def save(tx: Transaction, rows: Iterable[tuple[str, float, float]]) -> None:
    """Write buckets' new levels (bucket, tokens, updated_at); their rows are locked."""
    await tx.executemany(
        "UPDATE send_budget SET tokens = ?, updated_at = ? WHERE bucket = ?",
        [(tokens, updated, bucket) for bucket, tokens, updated in rows],
    )


async def hold(db: Database, seconds: float) -> None:
    """Nothing may be sent for ``seconds`` from now (a longer wait already recorded stays)."""
    await db.write(
        "INSERT INTO send_budget (bucket, tokens, updated_at)"
        f" VALUES ('{HOLD}', 0, {NOW} + ?)"
        " ON CONFLICT (bucket) DO UPDATE"
        " SET updated_at = greatest(send_budget.updated_at, excluded.updated_at)",
        (float(seconds),),
    )


async def held_for(db: Database) -> float:
    """Seconds left of the flood wait (0 if none)."""
    async with db.read() as tx:
        row = await tx.one(
            f"SELECT greatest(0, updated_at - {NOW}) FROM send_budget WHERE bucket = '{HOLD}'"
        )
    return float(row[0]) if row is not None else 0.0


async def forget_idle_chats(db: Database, idle_seconds: float) -> int:
    """Delete chat buckets not used for ``idle_seconds`` (full again by then: a chat seen
    anew starts full, the same thing); the number deleted."""
    return await db.write(
        f"DELETE FROM send_budget WHERE bucket LIKE '{CHAT_PREFIX}%' AND updated_at < {NOW} - ?",
        (float(idle_seconds),),
    )
