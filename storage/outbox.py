"""Queries for what the bot sends on its own: nudge occurrences and the outbox (one-off messages
and replies), each send an attempt with an outcome.

The database decides what is due. Sending one message is an *attempt*: a ``send_attempts`` row
written before the request leaves (while its outcome is NULL the message is in flight, and no
one else takes it), settled with its outcome when Telegram answers. An outcome can be:

* ``sent``: Telegram confirmed it; only now is it counted as delivered;
* ``not_sent``: certainly not delivered (refused with 429, or the connection never opened):
  due again later;
* ``uncertain``: the request left and the answer was lost (5xx, timeout, dropped connection,
  or the bot died meanwhile, found at start-up): sent once more, and only once; after a second
  unknown outcome it is treated as maybe delivered (reminders carry on; never counted); a
  reply a person is waiting for gets a few more tries;
* ``refused`` (Telegram said no for good) and ``unreachable`` (blocked, chat gone).

So a nudge or a piece of news reaches a person at most twice, and never zero times while they
can be reached.

Workers sharing one database (PostgreSQL) claim due messages in small batches
(:func:`claim_due`), locking the rows they read with ``FOR UPDATE SKIP LOCKED``, so two workers
claiming at once take different messages rather than queueing for the same ones; the unique
index of attempts in flight still makes a message's claim once-only. Each attempt records its
worker: one left in flight by a worker that is gone is settled as an unknown outcome by another
(:func:`in_flight` with ``abandoned``), and a worker's own late settling of an attempt someone
settled meanwhile changes nothing (:func:`settle` returns ``TAKEN``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage import dialect, leases
from storage.db import Database, Transaction, parse_utc, utc_text


@dataclass(frozen=True)
class Recipient:
    """A participant who may be nudged, with their preferences (None = project default)."""

    id: str
    chat_id: int
    joined: datetime
    timezone: str | None
    quiet_hours: str | None
    frequency: str


@dataclass(frozen=True)
class DueMessage:
    """An occurrence (check-in nudge) or outbox row whose next message is due."""

    table: str  # "occurrences" or "outbox"
    id: int
    participant_id: str
    chat_id: int
    next_at: str | None
    checkin_id: str | None = None
    status: str | None = None
    reminders_sent: int = 0
    text: str | None = None
    timezone: str | None = None
    quiet_hours: str | None = None
    kind: str = "news"  # outbox: a 'reply' is not held back by quiet hours
    key: str | None = None  # outbox: its message_key (what it is: "update:<id>", ...)
    buttons: str | None = None  # outbox: its inline buttons, JSON rows of [label, data]
    language: str | None = None  # the person's language (None: the project's default)

    @property
    def message_no(self) -> int:
        """0 for a nudge's opening message (and outbox messages), n for its reminder n."""
        if self.table == "outbox" or self.status == "pending":
            return 0
        return self.reminders_sent + 1


SENT, NOT_SENT, UNCERTAIN, REFUSED, UNREACHABLE = (
    "sent",
    "not_sent",
    "uncertain",
    "refused",
    "unreachable",
)
# What settle returns when the attempt was settled by someone else meanwhile (its worker was
# taken for gone): nothing more is recorded.
TAKEN = "taken"
# After this many unknown outcomes a message is not sent again (at most one extra copy).
UNCERTAIN_LIMIT = 2
# A reply the person is waiting for (the thank-you at the end of a check-in) gets a few more
# tries, like the questions themselves: a repeated thank-you is better than none.
REPLY_UNCERTAIN_LIMIT = 4
# A message with an attempt in flight (no outcome yet): nobody else may send it.
_IN_FLIGHT = (
    "SELECT 1 FROM send_attempts a WHERE a.source = '{table}' AND a.source_id = {alias}.id"
    " AND a.outcome IS NULL"
)


@dataclass(frozen=True)
class NewOccurrence:
    """An occurrence to record (ignored if its key is already there)."""

    participant_id: str
    checkin_id: str
    key: str
    due: datetime
    next_at: datetime | None
    closes_at: datetime
    status: str = "pending"


async def recipients(db: Database) -> list[Recipient]:
    """Active, reachable participants who have not paused."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT id, chat_id, consented_at, timezone, quiet_hours, frequency"
            " FROM participants WHERE status = 'active' AND unreachable_since IS NULL"
        )
    return [
        Recipient(
            r["id"],
            r["chat_id"],
            parse_utc(r["consented_at"]),
            r["timezone"],
            r["quiet_hours"],
            r["frequency"],
        )
        for r in found
    ]


async def add_occurrences(db: Database, occurrences: Iterable[NewOccurrence]) -> int:
    """Record occurrences; those already recorded are left exactly as they are."""
    # Most people share the same few moments (everyone's Monday 10:00): format each once.
    text = functools.lru_cache(maxsize=4096)(utc_text)
    params = [
        (
            o.participant_id,
            o.checkin_id,
            o.key,
            text(o.due),
            o.status,
            text(o.next_at) if o.next_at else None,
            text(o.closes_at),
        )
        for o in occurrences
    ]
    if not params:
        return 0
    async with db.transaction() as tx:
        added = await tx.executemany(
            "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status,"
            " next_at, closes_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (participant_id, checkin_id, occurrence_key) DO NOTHING",
            params,
        )
    return added


async def known_keys(db: Database, since: datetime) -> set[tuple[str, str, str]]:
    """(participant, check-in, key) of occurrences due since ``since``, to skip them fast."""
    async with db.read() as tx:
        found = await tx.all(
            "SELECT participant_id, checkin_id, occurrence_key FROM occurrences WHERE due_at >= ?",
            (utc_text(since),),
        )
    return {(r[0], r[1], r[2]) for r in found}


async def expire(db: Database, now: datetime) -> int:
    """Close open occurrences past their expiry; answers after this are kept, marked late."""
    async with db.transaction() as tx:
        return await tx.execute(
            "UPDATE occurrences SET status = CASE status WHEN 'open' THEN 'expired'"
            " ELSE 'missed' END, next_at = NULL"
            " WHERE status IN ('open', 'pending') AND closes_at <= ?"
            f" AND NOT EXISTS ({_IN_FLIGHT.format(table='occurrences', alias='occurrences')})",
            (utc_text(now),),
        )


_DUE_NUDGES = (
    "SELECT o.id, o.participant_id, p.chat_id, o.next_at, o.checkin_id, o.status,"
    " o.reminders_sent, p.timezone, p.quiet_hours, p.language FROM occurrences o"
    " JOIN participants p ON p.id = o.participant_id"
    " WHERE o.status IN ('pending', 'open') AND o.next_at <= ?"
    f" AND NOT EXISTS ({_IN_FLIGHT.format(table='occurrences', alias='o')})"
    " AND p.status = 'active' AND p.unreachable_since IS NULL"
    " ORDER BY o.next_at LIMIT ?"
)
_DUE_OUTBOX = (
    "SELECT b.id, b.participant_id, p.chat_id, b.next_at, b.text, p.timezone,"
    " p.quiet_hours, b.kind, b.message_key, b.buttons, p.language FROM outbox b"
    " JOIN participants p ON p.id = b.participant_id"
    " WHERE b.status = 'pending' AND b.next_at <= ?"
    f" AND NOT EXISTS ({_IN_FLIGHT.format(table='outbox', alias='b')})"
    " AND p.status = 'active' AND p.unreachable_since IS NULL"
    " ORDER BY b.next_at LIMIT ?"
)


async def due(db: Database, now: datetime, limit: int = 50_000) -> list[DueMessage]:
    """Every message due now, oldest first, for people who are active and reachable."""
    stamp = utc_text(now)
    async with db.read() as tx:
        nudges = await tx.all(_DUE_NUDGES, (stamp, limit))
        outbox = await tx.all(_DUE_OUTBOX, (stamp, limit))
    return _due_messages(nudges, outbox)


def _due_messages(nudges: list[Any], outbox: list[Any]) -> list[DueMessage]:
    messages = [
        DueMessage(
            "occurrences",
            r["id"],
            r["participant_id"],
            r["chat_id"],
            r["next_at"],
            checkin_id=r["checkin_id"],
            status=r["status"],
            reminders_sent=r["reminders_sent"],
            timezone=r["timezone"],
            quiet_hours=r["quiet_hours"],
            language=r["language"],
        )
        for r in nudges
    ] + [
        DueMessage(
            "outbox",
            r["id"],
            r["participant_id"],
            r["chat_id"],
            r["next_at"],
            text=r["text"],
            timezone=r["timezone"],
            quiet_hours=r["quiet_hours"],
            kind=r["kind"],
            key=r["message_key"],
            buttons=r["buttons"],
            language=r["language"],
        )
        for r in outbox
    ]
    return sorted(messages, key=lambda m: m.next_at or "")


async def postpone(db: Database, message: DueMessage, until: datetime) -> bool:
    """Move a due message later (quiet hours) without sending it."""
    async with db.transaction() as tx:
        return (
            await tx.execute(
                f"UPDATE {message.table} SET next_at = ? WHERE id = ? AND next_at = ?",
                (utc_text(until), message.id, message.next_at),
            )
            == 1
        )


@dataclass(frozen=True)
class Claimed:
    """A due message taken for sending, with its attempt."""

    message: DueMessage
    attempt: int


@dataclass(frozen=True)
class Batch:
    """What one :func:`claim_due` did."""

    claimed: list[Claimed]
    postponed: int  # moved past quiet hours instead
    found: int  # due messages it looked at (0: nothing more is due now)


async def claim_due(
    db: Database,
    now: datetime,
    worker: str | None,
    limit: int,
    later: Callable[[DueMessage], datetime | None],
) -> Batch:
    """Take up to ``limit`` due messages, oldest first, in one transaction: each gets its
    attempt (written before its request leaves), or is moved to ``later(message)`` if that
    is not None (quiet hours). On PostgreSQL the rows read are locked ``FOR UPDATE SKIP
    LOCKED``: a worker claiming at the same moment takes the next ones instead of waiting."""
    stamp = utc_text(now)
    async with db.transaction() as tx:
        nudges = await tx.all(_DUE_NUDGES + dialect.skip_locked(db.dialect, "o"), (stamp, limit))
        outbox = await tx.all(_DUE_OUTBOX + dialect.skip_locked(db.dialect, "b"), (stamp, limit))
        found = _due_messages(nudges, outbox)[:limit]
        claimed: list[Claimed] = []
        postponed = 0
        for message in found:
            until = later(message)
            if until is not None:
                await tx.execute(
                    f"UPDATE {message.table} SET next_at = ? WHERE id = ?",
                    (utc_text(until), message.id),
                )
                postponed += 1
                continue
            attempt = await tx.insert(
                "INSERT INTO send_attempts"
                " (source, source_id, message_no, participant_id, started_at, worker)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    message.table,
                    message.id,
                    message.message_no,
                    message.participant_id,
                    stamp,
                    worker,
                ),
            )
            if attempt is not None:
                claimed.append(Claimed(message, attempt))
    return Batch(claimed, postponed, len(found))


async def unclaim(db: Database, attempts: Iterable[int]) -> int:
    """Forget attempts whose request never left (claimed, then the bot stopped first)."""
    ids = list(attempts)
    if not ids:
        return 0
    return await db.write(
        f"DELETE FROM send_attempts WHERE outcome IS NULL AND id IN ({','.join('?' * len(ids))})",
        tuple(ids),
    )


async def claim(
    db: Database, message: DueMessage, now: datetime, worker: str | None = None
) -> int | None:
    """Take a due message for sending: record the attempt; its id, or None if it moved on.

    One statement: the attempt is written only if the message is still as it was read and no
    other attempt of it is in flight. ``worker`` is the worker sending it (None: the only one).
    """
    still, params = "m.status = 'pending'", (message.id, message.next_at)
    if message.message_no > 0:  # a reminder: the occurrence is open, this one not sent yet
        still, params = (
            "m.status = 'open' AND m.reminders_sent = ?",
            (*params, message.reminders_sent),
        )
    table = message.table
    return await db.insert(
        "INSERT INTO send_attempts"
        " (source, source_id, message_no, participant_id, started_at, worker)"
        f" SELECT ?, m.id, ?, m.participant_id, ?, ? FROM {table} m"
        f" WHERE m.id = ? AND m.next_at = ? AND {still}"
        f" AND NOT EXISTS ({_IN_FLIGHT.format(table=table, alias='m')})"
        # The unique index of attempts in flight: of two claims at once, one writes nothing.
        " ON CONFLICT DO NOTHING",
        (table, message.message_no, utc_text(now), worker, *params),
    )


async def settle(
    db: Database,
    message: DueMessage,
    attempt: int,
    outcome: str,
    now: datetime,
    *,
    next_reminder: datetime | None = None,
    retry_at: datetime | None = None,
    error: str | None = None,
) -> str:
    """Record how an attempt ended and move its message on; returns what happened to it.

    ``sent``, ``retry`` (due again at ``retry_at``), ``gave_up`` (a second unknown outcome:
    maybe delivered), ``refused`` or ``unreachable``; ``taken`` if the attempt had been
    settled already (another worker took this one's for gone), and then nothing changes.
    """
    stamp = utc_text(now)
    table, no = message.table, message.message_no
    after = utc_text(next_reminder) if next_reminder else None
    async with db.transaction() as tx:
        mine = await tx.execute(
            "UPDATE send_attempts SET outcome = ?, error = ?, finished_at = ?"
            " WHERE id = ? AND outcome IS NULL",
            (outcome, error, stamp, attempt),
        )
        if mine != 1:
            return TAKEN
        result = outcome
        if outcome == UNCERTAIN:
            row = await tx.one(
                "SELECT count(*) AS n FROM send_attempts WHERE source = ? AND source_id = ?"
                " AND message_no = ? AND outcome = 'uncertain'",
                (table, message.id, no),
            )
            limit = REPLY_UNCERTAIN_LIMIT if message.kind == "reply" else UNCERTAIN_LIMIT
            result = "retry" if row is not None and row["n"] < limit else "gave_up"
        elif outcome == NOT_SENT:
            result = "retry"
        # Only the holder of the attempt in flight settles it, so the message is as claimed.
        mine = (message.id,)
        if result == "retry":
            await tx.execute(
                f"UPDATE {table} SET next_at = ? WHERE id = ?", (utc_text(retry_at or now), *mine)
            )
        elif result == UNREACHABLE:
            await _unreachable(tx, message.participant_id, stamp)
        elif table == "outbox":
            status = {SENT: "sent", REFUSED: "failed"}.get(result, "uncertain")
            await tx.execute(
                "UPDATE outbox SET status = ?, sent_at = CASE WHEN ? = 'sent' THEN ? END,"
                " next_at = ? WHERE id = ?",
                (status, status, stamp, stamp, *mine),
            )
        elif no == 0 and result == REFUSED:
            await tx.execute(
                "UPDATE occurrences SET status = 'failed', next_at = NULL WHERE id = ?",
                mine,
            )
        elif no == 0:
            # Sent, or maybe sent: reminders follow; only a confirmed opening counts as asked.
            await tx.execute(
                "UPDATE occurrences SET status = CASE status WHEN 'pending' THEN 'open'"
                " ELSE status END, sent_at = CASE WHEN ? THEN ? ELSE sent_at END,"
                " next_at = CASE status WHEN 'pending' THEN ? ELSE next_at END WHERE id = ?",
                (result == SENT, stamp, after, *mine),
            )
        else:
            # A reminder: sent, maybe sent or refused, it is not sent again.
            await tx.execute(
                "UPDATE occurrences SET reminders_sent = CASE WHEN reminders_sent > ?"
                " THEN reminders_sent ELSE ? END,"
                " next_at = CASE status WHEN 'open' THEN ? ELSE next_at END WHERE id = ?",
                (no, no, after, *mine),
            )
    return result


async def reply(db: Database, participant_id: str, key: str) -> DueMessage | None:
    """A queued reply (see :func:`storage.participants.save_step`) ready to send now."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT b.id, b.participant_id, p.chat_id, b.next_at, b.text, b.kind, b.message_key,"
            " b.buttons, p.language FROM outbox b"
            " JOIN participants p ON p.id = b.participant_id WHERE b.participant_id = ?"
            " AND b.message_key = ? AND b.status = 'pending'"
            f" AND NOT EXISTS ({_IN_FLIGHT.format(table='outbox', alias='b')})",
            (participant_id, key),
        )
    if row is None:
        return None
    return DueMessage(
        "outbox",
        row["id"],
        row["participant_id"],
        row["chat_id"],
        row["next_at"],
        text=row["text"],
        kind=row["kind"],
        key=row["message_key"],
        buttons=row["buttons"],
        language=row["language"],
    )


async def replies_due_now(db: Database, now: datetime) -> int:
    """At start-up: replies a previous run queued and never sent are due at once."""
    return await db.write(
        "UPDATE outbox SET next_at = ? WHERE kind = 'reply' AND status = 'pending'",
        (utc_text(now),),
    )


@dataclass(frozen=True)
class InFlight:
    """An attempt a previous run started and never settled (it died meanwhile)."""

    attempt: int
    message: DueMessage


async def in_flight(db: Database, *, abandoned: bool = False) -> list[InFlight]:
    """Attempts without an outcome, with the message each was sending: at start-up all of them
    (one process), or with ``abandoned`` those of workers that are gone (several)."""
    gone = f" AND NOT {leases.alive(db, 'a.worker')}" if abandoned else ""
    async with db.read() as tx:
        rows = await tx.all(
            "SELECT a.id AS attempt, a.source, a.source_id, a.message_no, a.participant_id,"
            " p.chat_id, o.checkin_id, o.status, o.next_at AS o_next, b.next_at AS b_next,"
            " b.text, b.kind, b.message_key"
            " FROM send_attempts a JOIN participants p ON p.id = a.participant_id"
            " LEFT JOIN occurrences o ON a.source = 'occurrences' AND o.id = a.source_id"
            " LEFT JOIN outbox b ON a.source = 'outbox' AND b.id = a.source_id"
            f" WHERE a.outcome IS NULL{gone} ORDER BY a.id"
        )
    found = []
    for r in rows:
        number = r["message_no"]
        # As the message looked when it was claimed: the opening of a still-pending
        # occurrence, or reminder n of an open one.
        status = "pending" if r["source"] == "occurrences" and number == 0 else "open"
        message = DueMessage(
            r["source"],
            r["source_id"],
            r["participant_id"],
            r["chat_id"],
            r["o_next"] if r["source"] == "occurrences" else r["b_next"],
            checkin_id=r["checkin_id"],
            status=status if r["source"] == "occurrences" else None,
            reminders_sent=max(0, number - 1),
            text=r["text"],
            kind=r["kind"] or "news",
            key=r["message_key"],
        )
        found.append(InFlight(r["attempt"], message))
    return found


async def attempts_of(db: Database, participant_id: str) -> list[dict]:
    """Every send attempt to one person (tests, /mydata)."""
    async with db.read() as tx:
        rows = await tx.all(
            "SELECT source, source_id, message_no, started_at, outcome, error, finished_at"
            " FROM send_attempts WHERE participant_id = ? ORDER BY id",
            (participant_id,),
        )
    return [dict(r) for r in rows]


async def unreachable(db: Database, participant_id: str, now: datetime) -> None:
    """Telegram says we cannot reach them (blocked, or the chat is gone): stop sending."""
    async with db.transaction() as tx:
        await _unreachable(tx, participant_id, utc_text(now))


async def _unreachable(tx: Transaction, participant_id: str, stamp: str) -> None:
    await tx.execute(
        "UPDATE participants SET unreachable_since = ? WHERE id = ?", (stamp, participant_id)
    )
    await tx.execute(
        "UPDATE occurrences SET status = 'failed', next_at = NULL"
        " WHERE participant_id = ? AND status IN ('pending', 'open')",
        (participant_id,),
    )
    await tx.execute(
        "UPDATE outbox SET status = 'failed' WHERE participant_id = ? AND status = 'pending'",
        (participant_id,),
    )


async def snooze(db: Database, occurrence_id: int, participant_id: str, until: datetime) -> bool:
    """'Remind me later': the occurrence's next message goes out at ``until``."""
    async with db.transaction() as tx:
        return (
            await tx.execute(
                "UPDATE occurrences SET next_at = ?"
                " WHERE id = ? AND participant_id = ? AND status = 'open'",
                (utc_text(until), occurrence_id, participant_id),
            )
            == 1
        )


async def occurrence(db: Database, occurrence_id: int, participant_id: str) -> dict | None:
    """One occurrence of this participant, as a dict."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT * FROM occurrences WHERE id = ? AND participant_id = ?",
            (occurrence_id, participant_id),
        )
    return dict(row) if row else None


async def open_for(db: Database, participant_id: str, checkin_id: str) -> int | None:
    """The newest occurrence of this check-in that the person has not answered yet."""
    async with db.read() as tx:
        row = await tx.one(
            "SELECT id FROM occurrences WHERE participant_id = ? AND checkin_id = ?"
            " AND status IN ('open', 'expired', 'pending') ORDER BY due_at DESC LIMIT 1",
            (participant_id, checkin_id),
        )
    return row["id"] if row else None


# A message's text (or buttons): the same for everyone, or made for each person's language
# (their stored choice; None: the project's default).
Text = str | Callable[[str | None], str]


async def _languages(tx: Transaction, people: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for start in range(0, len(people), 500):
        chunk = people[start : start + 500]
        rows = await tx.all(
            f"SELECT id, language FROM participants WHERE id IN ({','.join('?' * len(chunk))})",
            tuple(chunk),
        )
        found.update({row["id"]: row["language"] for row in rows})
    return found


async def queue_outbox(
    db: Database, participant_ids: Iterable[str], key: str, text: Text, now: datetime
) -> int:
    """Queue one message per person under ``key`` (at most once per person and key)."""
    people = list(participant_ids)
    if not people:
        return 0
    async with db.transaction() as tx:
        return await queue_in(tx, people, key, text, now)


async def queue_in(
    tx: Transaction,
    participant_ids: Iterable[str],
    key: str,
    text: Text,
    now: datetime,
    buttons: Text | None = None,
    kind: str = "news",
) -> int:
    """:func:`queue_outbox` inside a caller's transaction (with the change the message is
    about); how many were new. ``buttons``: JSON rows of [label, callback data]. Either may
    be made per language: each is then made once per language among the people. ``kind``
    'reply': something the person is waiting for, not held back by quiet hours."""
    people = list(participant_ids)
    if not people:
        return 0
    stamp = utc_text(now)
    if isinstance(text, str) and (buttons is None or isinstance(buttons, str)):
        params = [(pid, key, text, stamp, buttons, kind) for pid in people]
    else:
        languages = await _languages(tx, people)
        made: dict[str | None, tuple[str, str | None]] = {}
        for language in set(languages.values()):
            made[language] = (
                text if isinstance(text, str) else text(language),
                buttons if buttons is None or isinstance(buttons, str) else buttons(language),
            )
        params = [
            (pid, key, *made[languages[pid]][:1], stamp, made[languages[pid]][1], kind)
            for pid in people
            if pid in languages
        ]
    return await tx.executemany(
        "INSERT INTO outbox (participant_id, message_key, text, next_at, buttons, kind)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (participant_id, message_key) DO NOTHING",
        params,
    )
