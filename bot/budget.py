"""One sending budget under Telegram's flood limits: replies first, broadcasts take what is left.

Telegram allows a bot about 30 messages a second to different chats, about one a second in one
chat (short bursts are tolerated) and 20 a minute in a group; past that it answers 429 "retry
after N" and, as flood control applies to the whole bot, nothing should be sent for N seconds.
:class:`BudgetLimiter` is python-telegram-bot's documented seam for this (a
``telegram.ext.BaseRateLimiter``); every Bot API request passes through it.

Which requests count
    Only requests that post or change a message in a chat (``sendMessage``, ``editMessageText``,
    ``copyMessage``...: every method named ``send*``, ``forward*``, ``copy*``, ``edit*`` or
    ``stop*``) spend the budget: one slot overall, and one of the chat's (its ``chat_id``; a
    negative id or an ``@username`` is a group). That is what Telegram's FAQ describes and
    what the sandbox enforces (``bot/sandbox/limits.py``). Edits are counted although Telegram
    documents no figure for them: the sandbox counts them and Telegram does answer 429 to
    rapid edits, so counting them is the careful choice. ``sendChatAction`` counts too (it
    starts with ``send``; nothing says it is free). Everything else (``answerCallbackQuery``,
    ``getFile``, ``getMe``, ``setMyCommands``, ``deleteMessage``...) spends nothing, so a
    button's spinner never waits behind a broadcast; ``getUpdates`` never reaches a rate
    limiter at all. Every request, counted or not, waits out a 429's ``retry_after``.

Who goes first
    The caller says, with python-telegram-bot's ``rate_limit_args``:
    ``bot.send_once(chat_id, text, rate_limit_args=BROADCAST_ARGS)`` for what the bot sends on
    its own (bot/outreach.py: nudges, reminders, stage news, "you said, we did"); anything
    else is a reply to someone who is waiting. A broadcast may take an overall slot only while
    ``reply_reserve`` slots stay free after it, so a reply finds a free slot at once even in
    the middle of a fan-out, and broadcasts use whatever replies leave. Strict priority: replies
    using the whole budget would hold broadcasts back (they wait; nothing is lost).

Where the state lives
    :class:`Budget` is the interface: ``take(kind, chat)`` either takes a slot (returns 0) or
    says how long to wait before asking again (nothing taken), ``hold(seconds)`` records a 429
    and ``held_for()`` tells what is left of one. Both implementations decide the same way
    (:func:`decide`, pure):

    * :class:`LocalBudget` keeps the buckets in this process (SQLite: one process per project).
    * :class:`PostgresBudget` keeps them in the ``send_budget`` table (storage/budget.py), so
      several workers sharing one bot token share one budget: each ``take`` is one short
      transaction that locks the rows it reads (``SELECT ... FOR UPDATE``, in key order),
      refills them from the database's clock (``clock_timestamp()``, so the workers' clocks need
      not agree), takes or not, and commits. It has a small pool of its own (two connections),
      so a reply's slot never queues behind the bot's other database work. Chat rows idle for
      a minute (full again) are deleted now and then.

    Within a process, one broadcast at a time asks (``_broadcast_gate``), so the budget sees
    about one broadcast question per slot, not one per waiting sender. If the shared budget
    cannot be reached, this process paces itself alone (a :class:`LocalBudget`) and says so
    once a minute: messages keep going, and any 429 that draws is obeyed as always.

The budget paces a little under each of Telegram's figures, with smaller bursts than the
sandbox allows (:class:`Limits`), so timing differences between our clock and Telegram's
(a request granted here reaches Telegram a few milliseconds later, not always the same few)
do not draw 429s.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, Protocol

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.delivery import MAX_RETRY_AFTER, TROUBLE, retry_after_seconds
from storage import budget as store
from storage.db import Database, StorageLocation

log = logging.getLogger(__name__)

Kind = Literal["reply", "broadcast"]
REPLY: Final = "reply"
BROADCAST: Final = "broadcast"
KINDS: Final = (REPLY, BROADCAST)
# What bot/outreach.py passes: ``bot.send_once(..., rate_limit_args=BROADCAST_ARGS)``.
BROADCAST_ARGS: Final = {"priority": BROADCAST}

# Methods that post or change a message in a chat start with one of these (the sandbox's
# SENDING_METHODS and EDITING_METHODS, and any later method named the same way).
COUNTED_PREFIXES = ("send", "forward", "copy", "edit", "stop")
_EPSILON = 1e-9

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]
Result = bool | dict[str, Any] | list[dict[str, Any]]


def counted(endpoint: str) -> bool:
    """Whether a Bot API method spends the message budget."""
    return endpoint.startswith(COUNTED_PREFIXES)


def chat_key(chat_id: Any) -> str | None:
    """The per-chat bucket's key: the chat id as text ("-100..." or "@name" for groups)."""
    if chat_id is None or chat_id == "":
        return None
    return str(chat_id)


def is_group(chat: str) -> bool:
    """Negative ids and @usernames are groups, supergroups or channels."""
    return chat.startswith(("-", "@"))


def priority_of(rate_limit_args: Any) -> Kind:
    """The ``priority`` a caller gave in ``rate_limit_args``; a reply unless it says otherwise."""
    if rate_limit_args is None:
        return REPLY
    priority = rate_limit_args.get("priority") if isinstance(rate_limit_args, dict) else None
    if priority == BROADCAST:
        return BROADCAST
    if priority in (REPLY, None) and isinstance(rate_limit_args, dict):
        return REPLY
    raise ValueError(
        f"rate_limit_args must be {{'priority': 'reply' or 'broadcast'}}, not {rate_limit_args!r}"
    )


@dataclass(frozen=True)
class Limits:
    """How fast the budget lets messages go (a little inside Telegram's figures)."""

    overall_per_second: float = 29.5  # Telegram: about 30 to different chats
    overall_burst: float = 6.0  # a short burst after a quiet moment (Telegram tolerates 30)
    reply_reserve: float = 3.0  # of that burst, slots a broadcast must leave for replies
    chat_per_second: float = 1.0  # Telegram: about 1 a second in one chat...
    chat_burst: float = 2.5  # ...with short bursts (the sandbox allows 3)
    group_per_minute: float = 20.0  # Telegram: 20 a minute in a group
    group_burst: float = 19.0  # (the sandbox allows 20)

    def __post_init__(self) -> None:
        rates = (self.overall_per_second, self.chat_per_second, self.group_per_minute)
        if min(rates) <= 0:
            raise ValueError("rates must be positive")
        if min(self.overall_burst, self.chat_burst, self.group_burst) < 1:
            raise ValueError("bursts must be at least 1")
        if not 0 <= self.reply_reserve <= self.overall_burst - 1:
            raise ValueError("reply_reserve must leave broadcasts at least one slot of the burst")

    @property
    def longest_overall_wait(self) -> float:
        """The longest a broadcast can wait on the overall bucket alone (seconds)."""
        return (1 + self.reply_reserve) / self.overall_per_second

    def chat_shape(self, chat: str) -> tuple[float, float]:
        """A chat's bucket: (refill per second, capacity)."""
        if is_group(chat):
            return self.group_per_minute / 60, self.group_burst
        return self.chat_per_second, self.chat_burst

    @property
    def idle_chat_seconds(self) -> float:
        """After this long unused, any chat's bucket is full again (so it can be forgotten)."""
        return max(
            self.chat_burst / self.chat_per_second, self.group_burst * 60 / self.group_per_minute
        )


# What a budget paces at unless given other limits. (The test suite's sandbox enforces no
# limits unless a test switches them on, so a test that does not exercise the budget may
# replace this with looser per-chat figures to save waiting.)
DEFAULT_LIMITS = Limits()


class _Bucket:
    """A token bucket: its level ``tokens`` when last written, at ``updated``."""

    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated

    def level(self, now: float, rate: float, capacity: float) -> float:
        """Tokens there are at ``now`` (not stored). A clock that seems to go back (another
        worker wrote a later time) refills nothing."""
        return min(capacity, self.tokens + max(0.0, now - self.updated) * rate)


def _wait_for(level: float, need: float, rate: float) -> float:
    return 0.0 if level >= need - _EPSILON else (need - level) / rate


def decide(
    limits: Limits,
    kind: Kind,
    now: float,
    held_until: float,
    overall: _Bucket,
    chat: str | None,
    chat_bucket: _Bucket | None,
) -> float:
    """One take: 0 after taking a slot from ``overall`` (and ``chat_bucket``, updated in
    place), or the seconds to wait with nothing taken. A broadcast needs ``reply_reserve``
    overall slots to stay free after its own; a reply needs only its own."""
    if now < held_until - _EPSILON:
        return held_until - now
    overall_level = overall.level(now, limits.overall_per_second, limits.overall_burst)
    need = 1 + (limits.reply_reserve if kind == BROADCAST else 0)
    wait = _wait_for(overall_level, need, limits.overall_per_second)
    chat_level = 0.0
    if chat is not None and chat_bucket is not None:
        rate, burst = limits.chat_shape(chat)
        chat_level = chat_bucket.level(now, rate, burst)
        wait = max(wait, _wait_for(chat_level, 1, rate))
    if wait > 0:
        return wait
    overall.tokens, overall.updated = overall_level - 1, now
    if chat_bucket is not None:
        chat_bucket.tokens, chat_bucket.updated = chat_level - 1, now
    return 0.0


class Budget(Protocol):
    """The budget's state (see the module docstring). ``take`` and ``hold`` are atomic with
    respect to each other, in this process (:class:`LocalBudget`) or across workers
    (:class:`PostgresBudget`)."""

    limits: Limits

    async def take(self, kind: Kind, chat: str | None) -> float:
        """Take one message slot for ``kind`` (overall, and ``chat``'s if given) and return 0,
        or take nothing and return the seconds to wait before asking again."""
        ...

    async def hold(self, seconds: float) -> None:
        """Telegram answered 429: nothing may be sent for ``seconds`` (from now)."""
        ...

    async def held_for(self) -> float:
        """Seconds left of the current flood wait (0 if none)."""
        ...

    async def close(self) -> None:
        """Let go of what it holds (a database pool)."""
        ...


class LocalBudget:
    """The budget's state in this process: token buckets and the flood wait, in memory."""

    PRUNE_ABOVE = 4096  # chats remembered before full (idle) ones are forgotten

    def __init__(self, limits: Limits | None = None, clock: Clock = time.monotonic) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self._clock = clock
        self._overall = _Bucket(self.limits.overall_burst, clock())
        self._chats: dict[str, _Bucket] = {}
        self._held_until = 0.0

    async def take(self, kind: Kind, chat: str | None) -> float:
        """See :meth:`Budget.take`."""
        now = self._clock()
        bucket = None
        if chat is not None:
            bucket = self._chats.get(chat)
            if bucket is None:
                if len(self._chats) >= self.PRUNE_ABOVE:
                    self._prune(now)
                bucket = self._chats[chat] = _Bucket(self.limits.chat_shape(chat)[1], now)
        return decide(self.limits, kind, now, self._held_until, self._overall, chat, bucket)

    def _prune(self, now: float) -> None:
        """Forget chats whose buckets are full again (they start full when next seen)."""
        self._chats = {
            chat: bucket
            for chat, bucket in self._chats.items()
            if bucket.level(now, *self.limits.chat_shape(chat)) < self.limits.chat_shape(chat)[1]
        }

    async def hold(self, seconds: float) -> None:
        """See :meth:`Budget.hold`."""
        self._held_until = max(self._held_until, self._clock() + seconds)

    async def held_for(self) -> float:
        """See :meth:`Budget.held_for`."""
        left = self._held_until - self._clock()
        return left if left > _EPSILON else 0.0

    async def close(self) -> None:
        """Nothing to let go of."""


class PostgresBudget:
    """The budget's state in PostgreSQL, shared by every worker using that database.

    Given a :class:`~storage.db.Database`, it uses it (and leaves closing it to its owner);
    given storage settings, it opens a pool of its own on first use (``POOL_SIZE``
    connections) and closes it in :meth:`close`.
    """

    POOL_SIZE = 2
    HOLD_CACHE_SECONDS = 0.25  # how stale held_for() may be for requests that spend nothing
    PRUNE_EVERY = 60.0  # seconds between deletions of idle chat rows (by this process)

    def __init__(
        self,
        database: Database | None = None,
        *,
        location: StorageLocation | None = None,
        limits: Limits | None = None,
    ) -> None:
        if (database is None) == (location is None):
            raise ValueError("give a database or where one is, not both")
        self.limits = limits or DEFAULT_LIMITS
        self._db = database
        self._location = location
        self._owned = database is None
        self._opening = asyncio.Lock()
        self._held_seen = (0.0, 0.0)  # (held_for, our monotonic clock) when last read
        self._pruned = time.monotonic()

    async def _database(self) -> Database:
        if self._db is None:
            async with self._opening:
                if self._db is None:
                    assert self._location is not None
                    self._db = await Database.open(self._location, pool_size=self.POOL_SIZE)
        return self._db

    async def take(self, kind: Kind, chat: str | None) -> float:
        """See :meth:`Budget.take`: one transaction, the rows it reads locked."""
        db = await self._database()
        keys = [store.OVERALL, store.HOLD]
        chat_row = store.chat_bucket(chat) if chat is not None else None
        if chat_row is not None:
            keys.append(chat_row)
        async with db.transaction() as tx:
            rows, now = await store.lock(tx, keys)
            missing = [key for key in keys if key not in rows]
            if missing:
                await store.create(tx, [self._new_row(key, now) for key in missing])
                rows, now = await store.lock(tx, keys)
            held_until = rows[store.HOLD][1]
            overall = _Bucket(*rows[store.OVERALL])
            bucket = _Bucket(*rows[chat_row]) if chat_row is not None else None
            wait = decide(self.limits, kind, now, held_until, overall, chat, bucket)
            if wait == 0:
                changed = [(store.OVERALL, overall.tokens, overall.updated)]
                if bucket is not None and chat_row is not None:
                    changed.append((chat_row, bucket.tokens, bucket.updated))
                await store.save(tx, changed)
        self._held_seen = (max(0.0, held_until - now), time.monotonic())
        if time.monotonic() - self._pruned > self.PRUNE_EVERY:
            self._pruned = time.monotonic()
            await store.forget_idle_chats(db, self.limits.idle_chat_seconds)
        return wait

    def _new_row(self, key: str, now: float) -> tuple[str, float, float]:
        if key == store.HOLD:
            return key, 0.0, 0.0
        if key == store.OVERALL:
            return key, self.limits.overall_burst, now
        return key, self.limits.chat_shape(key.removeprefix(store.CHAT_PREFIX))[1], now

    async def hold(self, seconds: float) -> None:
        """See :meth:`Budget.hold`."""
        await store.hold(await self._database(), seconds)
        self._held_seen = (seconds, time.monotonic())

    async def held_for(self) -> float:
        """See :meth:`Budget.held_for` (as read at most ``HOLD_CACHE_SECONDS`` ago)."""
        left, seen = self._held_seen
        elapsed = time.monotonic() - seen
        if elapsed > self.HOLD_CACHE_SECONDS:
            left = await store.held_for(await self._database())
            self._held_seen = (left, time.monotonic())
            return left
        return max(0.0, left - elapsed)

    async def close(self) -> None:
        """Close the pool it opened (not a database it was given)."""
        if self._owned and self._db is not None:
            db, self._db = self._db, None
            await db.close()


def budget_for(location: StorageLocation, limits: Limits | None = None) -> Budget:
    """The budget for a bot whose database is ``location``: shared through PostgreSQL, or in
    this process (SQLite)."""
    from storage.db import is_postgres

    if is_postgres(location.database_url):
        return PostgresBudget(location=location, limits=limits)
    return LocalBudget(limits)


def _retry_after(error: RetryAfter) -> float:
    """A 429's wait in seconds (read without python-telegram-bot's deprecation warning)."""
    value = getattr(error, "_retry_after", None)
    return value.total_seconds() if isinstance(value, timedelta) else retry_after_seconds(error)


class BudgetLimiter(BaseRateLimiter[dict[str, str]]):
    """python-telegram-bot's rate limiter over a :class:`Budget` (see the module docstring).

    A 429 is retried here up to ``max_retries`` times, each after the flood wait (a 429 means
    the request was certainly not carried out, so retrying cannot duplicate anything); after
    that, or when the wait is longer than ``max_wait`` seconds, ``RetryAfter`` reaches the
    caller, which tries again later (bot/delivery.py, bot/outreach.py).
    """

    FALLBACK_LOG_SECONDS = 60.0

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        max_retries: int = 3,
        max_wait: float = MAX_RETRY_AFTER,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.budget: Budget = budget or LocalBudget()
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._sleep_for = sleep
        # Counters for logs, tests and benchmarks: requests by kind ("free" spends nothing),
        # 429s met ("flood_waits"), those passed on to the caller ("surfaced"), and questions
        # the shared budget could not answer ("fallback").
        self.counts: Counter[str] = Counter()
        # A broadcast holding the gate waits for its slot; other broadcasts queue behind it
        # in this process instead of all polling the budget. Longer waits (a chat's pace, a
        # flood wait) are slept outside the gate, so one slow chat does not stop the rest.
        self._broadcast_gate = asyncio.Lock()
        self._gate_hold = self.budget.limits.longest_overall_wait + 0.001
        # Used only while the shared budget cannot be reached.
        self._fallback = (
            self.budget if isinstance(self.budget, LocalBudget) else LocalBudget(self.budget.limits)
        )
        self._fallback_logged = -math.inf

    async def initialize(self) -> None:
        """Nothing to open yet (a shared budget connects when first asked)."""

    async def shutdown(self) -> None:
        """Say what was sent and what Telegram refused; let go of the budget's pool."""
        if self.counts:
            # Counts only: what an operator (and bench.fanout_workers) checks after a run.
            log.info(
                "sending budget: %d replies, %d broadcasts, %d unpaced; 429s: %d met,"
                " %d passed on; %d paced alone",
                self.counts[REPLY],
                self.counts[BROADCAST],
                self.counts["free"],
                self.counts["flood_waits"],
                self.counts["surfaced"],
                self.counts["fallback"],
            )
        await self.budget.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, str] | None,
    ) -> Result:
        """Wait for a slot (or only out any flood wait), send; on a 429, hold and retry."""
        kind = priority_of(rate_limit_args)
        spends = counted(endpoint)
        chat = chat_key(data.get("chat_id")) if spends else None
        self.counts[kind if spends else "free"] += 1
        for attempt in range(self.max_retries + 1):
            if spends:
                await self._slot(kind, chat)
            else:
                await self._out_of_flood_wait()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = _retry_after(exc)
                await self._hold(seconds)
                self.counts["flood_waits"] += 1
                TROUBLE.note(
                    type(exc).__name__, "a message (every send waits out Telegram's retry_after)"
                )
                if attempt == self.max_retries or seconds > self.max_wait:
                    self.counts["surfaced"] += 1
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _slot(self, kind: Kind, chat: str | None) -> None:
        """Return once the budget gave this request a slot."""
        while True:
            if kind == BROADCAST:
                async with self._broadcast_gate:
                    wait = await self._take(kind, chat)
                    while 0 < wait <= self._gate_hold:
                        await self._sleep_for(wait)
                        wait = await self._take(kind, chat)
            else:
                wait = await self._take(kind, chat)
            if wait <= 0:
                return
            await self._sleep(wait)

    async def _out_of_flood_wait(self) -> None:
        while (wait := await self._held_for()) > 0:
            await self._sleep(wait)

    async def _sleep(self, wait: float) -> None:
        if wait > self.max_wait:
            # A flood wait longer than anyone should sit through: the caller tries later.
            self.counts["surfaced"] += 1
            with warnings.catch_warnings():  # PTB 22 warns unless PTB_TIMEDELTA is set
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                raise RetryAfter(timedelta(seconds=math.ceil(wait)))
        await self._sleep_for(wait)

    # -- the budget, or this process alone while it cannot be reached ------------------------

    async def _take(self, kind: Kind, chat: str | None) -> float:
        try:
            return await self.budget.take(kind, chat)
        except Exception as exc:  # any failure of the shared store
            self._fell_back(exc)
            return await self._fallback.take(kind, chat)

    async def _hold(self, seconds: float) -> None:
        if self._fallback is not self.budget:
            await self._fallback.hold(seconds)  # remembered here too, should the budget go
        try:
            await self.budget.hold(seconds)
        except Exception as exc:
            self._fell_back(exc)

    async def _held_for(self) -> float:
        try:
            return await self.budget.held_for()
        except Exception as exc:
            self._fell_back(exc)
            return await self._fallback.held_for()

    def _fell_back(self, exc: Exception) -> None:
        self.counts["fallback"] += 1
        now = time.monotonic()
        if now - self._fallback_logged >= self.FALLBACK_LOG_SECONDS:
            self._fallback_logged = now
            # The error's type only: a database error's text may name the server or a row.
            log.warning(
                "the shared sending budget could not be reached (%s): this process paces its"
                " messages alone until it can",
                type(exc).__name__,
            )
