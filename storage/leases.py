"""Workers sharing one database: which are alive, which leads, and which has each chat's turn.

Several ``everystage run`` processes may share one PostgreSQL database (bot/leader.py). Each
registers in ``workers`` and renews ``expires_at`` every few seconds, by the database's clock.
A worker is *alive* while that is ahead and, on PostgreSQL, while its own session (``pid``, the
connection :class:`Session` keeps for the process's life) is connected: a killed worker's socket
closes and the server ends its session, so it is known to be gone at once; one cut off from the
network is gone after ``TTL_MS``.

A chat's updates are handled only by the worker holding the chat's row in ``chat_leases``
(:func:`acquire`, :func:`release`), in update_id order (each handling begun counts an attempt:
:func:`storage.inbox.take_rows`). A worker takes a lease that is free, its own, or held by a
worker that is gone. Taking it from a gone worker is a *takeover*: that worker died holding the
chat, and the chat's current question and a reply it queued, which may have been on their way,
are due at once (as at a restart on one machine), not after their grace period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import dialect, inbox
from storage.db import Database, utc_text

TTL_MS = 30_000  # a worker that has not renewed for this long is gone, connected or not
LEADER_LOCK = "everystage:leader"
# Held shared by every webhook worker, or alone by one long-polling process: never both.
SERVING_LOCK = "everystage:serving"


def alive(db: Database, worker: str) -> str:
    """SQL: the worker whose id is in column ``worker`` is alive."""
    return (
        f"EXISTS (SELECT 1 FROM workers w WHERE w.id = {worker}"
        f" AND w.expires_at > {dialect.clock_ms(db.dialect)}"
        f" AND {dialect.session_alive(db.dialect, 'w.pid')})"
    )


async def beat(db: Database, worker: str, started: datetime, pid: int | None) -> None:
    """Register ``worker``, or renew it: alive for another ``TTL_MS``, its session ``pid``."""
    await db.write(
        "INSERT INTO workers (id, started_at, expires_at, pid)"
        f" VALUES (?, ?, {dialect.clock_ms(db.dialect)} + ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, pid = excluded.pid",
        (worker, utc_text(started), TTL_MS, pid),
    )


async def leave(db: Database, worker: str) -> None:
    """A worker stopping cleanly: gone at once (what it still held is taken over)."""
    await db.write("DELETE FROM workers WHERE id = ?", (worker,))


async def forget_gone(db: Database, after_ms: int = 86_400_000) -> int:
    """Forget workers gone for a day (their leases are taken over long before)."""
    return await db.write(
        f"DELETE FROM workers WHERE expires_at < {dialect.clock_ms(db.dialect)} - ?", (after_ms,)
    )


async def live_workers(db: Database) -> list[str]:
    """The ids of the workers alive now."""
    async with db.read() as tx:
        rows = await tx.all(f"SELECT id FROM workers x WHERE {alive(db, 'x.id')} ORDER BY id")
    return [r["id"] for r in rows]


@dataclass(frozen=True)
class Turn:
    """What :func:`acquire` got."""

    held: bool  # this worker has the chat's turn now
    taken_over: bool = False  # from a worker that is gone
    rows: inbox.ChatRows | None = None  # the chat's pending updates, when asked for and held


@dataclass(frozen=True)
class Read:
    """What :func:`acquire` reads once it holds the turn: :func:`storage.inbox.take_rows`."""

    also: int | None
    max_attempts: int
    before: int | None = None


async def acquire(
    db: Database, chat_id: int, worker: str, now: datetime, read: Read | None = None
) -> Turn:
    """Take the chat's turn if it is free, ours, or held by a worker that is gone; holding it,
    and given ``read``, take the chat's pending updates in the same transaction."""
    # Taken if free, ours, or its worker is gone; otherwise the holder is told someone waits
    # (it looks for pending updates when it gives the turn back: release).
    takeable = f"(chat_leases.worker = excluded.worker OR NOT {alive(db, 'chat_leases.worker')})"
    async with db.transaction() as tx:
        row = await tx.one(
            "INSERT INTO chat_leases (chat_id, worker) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET"
            f" worker = CASE WHEN {takeable} THEN excluded.worker ELSE chat_leases.worker END,"
            f" taken_from = CASE WHEN NOT {takeable} THEN chat_leases.taken_from"
            " WHEN chat_leases.worker = excluded.worker THEN NULL ELSE chat_leases.worker END,"
            f" waiting = CASE WHEN {takeable} THEN 0 ELSE 1 END"
            " RETURNING worker, taken_from",
            (chat_id, worker),
        )
        if row is None or row["worker"] != worker:
            return Turn(False)
        rows = None
        if read is not None:
            rows = await inbox.take_rows_in(
                tx, chat_id, read.also, read.max_attempts, now, read.before
            )
        if row["taken_from"] is None:
            return Turn(True, rows=rows)
        # The question, or the reply to a last answer, may have been on its way when that
        # worker died (it sends both while holding the turn): due now, not after their grace.
        stamp = utc_text(now)
        await tx.execute(
            "UPDATE sessions SET prompt_retry_at = ? WHERE delivered_step IS DISTINCT FROM step"
            " AND participant_id IN (SELECT id FROM participants WHERE chat_id = ?)",
            (stamp, chat_id),
        )
        await tx.execute(
            "UPDATE outbox SET next_at = ? WHERE kind = 'reply' AND status = 'pending'"
            " AND next_at > ?"
            " AND participant_id IN (SELECT id FROM participants WHERE chat_id = ?)",
            (stamp, stamp, chat_id),
        )
    return Turn(True, True, rows)


async def release(db: Database, chat_id: int, worker: str, limit: int = 100) -> list[int]:
    """Give the chat's turn back; the updates of the chat still pending (the first ``limit``)
    if another worker may have stored one meanwhile, else none.

    A worker that stored an update while we held the turn, and so could not take it, marked the
    lease ``waiting`` in the same statement that found it held; the row lock orders that mark
    and our delete, so we see it. Then release, and look: what it stored is there.
    Usually nobody waited, and giving the turn back is one statement.
    """
    freed = await db.write(
        "DELETE FROM chat_leases WHERE chat_id = ? AND worker = ? AND waiting = 0",
        (chat_id, worker),
    )
    if freed:
        return []
    async with db.transaction() as tx:
        await tx.execute(
            "DELETE FROM chat_leases WHERE chat_id = ? AND worker = ?", (chat_id, worker)
        )
        rows = await tx.all(
            "SELECT update_id FROM inbox WHERE chat_id = ? AND status = 'pending'"
            " ORDER BY update_id LIMIT ?",
            (chat_id, limit),
        )
    return [r["update_id"] for r in rows]


@dataclass(frozen=True)
class Orphans:
    """Chats nobody alive is looking after."""

    gone: list[int]  # held by a worker that is gone (pending updates or not)
    loose: list[int]  # with pending updates and no lease at all, not left to another worker
    mine: list[int]  # held by the asking worker (left so if giving one back failed)


async def orphans(db: Database, worker: str, limit: int = 500) -> Orphans:
    """Chats to look after: held by gone workers, with pending updates and no lease (unless
    another live worker received them), or held by ``worker`` itself."""
    async with db.read() as tx:
        mine = await tx.all(
            "SELECT chat_id FROM chat_leases WHERE worker = ? ORDER BY chat_id LIMIT ?",
            (worker, limit),
        )
        gone = await tx.all(
            f"SELECT chat_id FROM chat_leases l WHERE NOT {alive(db, 'l.worker')}"
            " ORDER BY chat_id LIMIT ?",
            (limit,),
        )
        # An update another live worker received is that worker's to hand to its task (which
        # may still be on its way to the chat's turn): its own sweep looks after it if not.
        loose = await tx.all(
            "SELECT DISTINCT i.chat_id FROM inbox i WHERE i.status = 'pending'"
            " AND NOT EXISTS (SELECT 1 FROM chat_leases l WHERE l.chat_id = i.chat_id)"
            f" AND (i.received_by IS NULL OR i.received_by = ? OR NOT {alive(db, 'i.received_by')})"
            " ORDER BY i.chat_id LIMIT ?",
            (worker, limit),
        )
    return Orphans(
        [r["chat_id"] for r in gone],
        [r["chat_id"] for r in loose],
        [r["chat_id"] for r in mine],
    )


async def holder(db: Database, chat_id: int) -> str | None:
    """The worker holding a chat's turn, if any (tests, diagnostics)."""
    async with db.read() as tx:
        row = await tx.one("SELECT worker FROM chat_leases WHERE chat_id = ?", (chat_id,))
    return row["worker"] if row else None


class Session:
    """A PostgreSQL connection of its own, kept for the process's life.

    Its backend's pid is this worker's liveness (:func:`beat`), and the leader's session
    advisory lock is taken on it (:meth:`try_lead`): when the process dies, the connection
    closes, the lock is free and the pid gone, so another worker leads and takes over.
    """

    def __init__(self, conn: Any, pid: int):
        self._conn = conn
        self.pid = pid

    @classmethod
    async def open(cls, db: Database) -> Session:
        """Connect (PostgreSQL only)."""
        connect = getattr(db, "own_connection", None)
        if connect is None:
            raise TypeError("a session of its own needs PostgreSQL")
        conn = await connect()
        try:
            cursor = await conn.execute("SELECT pg_backend_pid()")
            row = await cursor.fetchone()
        except BaseException:
            await conn.close()
            raise
        return cls(conn, int(row[0]))

    async def try_lead(self) -> bool:
        """Take the leader's lock if no other session holds it (never waits); True if held.

        The lock is named per schema, so projects in separate schemas lead separately.
        """
        cursor = await self._conn.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s || ':' || current_schema(), 0))",
            (LEADER_LOCK,),
        )
        row = await cursor.fetchone()
        return bool(row[0])

    async def try_serve(self, *, alone: bool) -> bool:
        """Take the project's serving lock (never waits); True if held.

        Webhook workers take it shared, any number of them; a long-polling process takes it
        alone: it is then the only process receiving updates, so it needs no chats' turns,
        and it refuses to start beside webhook workers or another poller (and they beside it).
        """
        take = "pg_try_advisory_lock" if alone else "pg_try_advisory_lock_shared"
        cursor = await self._conn.execute(
            f"SELECT {take}(hashtextextended(%s || ':' || current_schema(), 0))",
            (SERVING_LOCK,),
        )
        row = await cursor.fetchone()
        return bool(row[0])

    async def check(self) -> None:
        """Raise if the connection is gone (and with it, any lock it held)."""
        await self._conn.execute("SELECT 1")

    async def close(self) -> None:
        """Close it: a lock it held is free at once."""
        await self._conn.close()
