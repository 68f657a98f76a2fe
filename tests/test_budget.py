"""The sending budget (bot/budget.py): replies before broadcasts, inside Telegram's limits.

Most tests run the real BudgetLimiter on virtual time: its clock and its sleeps are a
:class:`VirtualTime`, so "a second" passes in no time and every figure is exact. Each request
the limiter lets through is checked against the sandbox's own model of Telegram's limits
(bot/sandbox/limits.py, on the same virtual clock), which answers 429 as Telegram would. The
PostgreSQL budget is tested on a real database (two pools, as two workers); the last test runs
a fan-out through the sandbox with its limits on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.budget import (
    BROADCAST,
    BROADCAST_ARGS,
    REPLY,
    BudgetLimiter,
    Limits,
    LocalBudget,
    PostgresBudget,
    budget_for,
)
from bot.sandbox.limits import RateLimiter, RateLimits
from storage.db import Database
from tests import postgres


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter without a deprecation warning


# -- virtual time ------------------------------------------------------------------------------


class VirtualTime:
    """A clock and a sleep for the limiter: time moves only when every task is asleep, and
    then straight to the next wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), future))
        await future

    async def _settle(self, tasks: list[asyncio.Future[Any]]) -> None:
        """Let every task run until it sleeps or ends (all in memory: a few loop turns)."""
        state, calm = None, 0
        while calm < 10:
            await asyncio.sleep(0)
            now = (len(self._sleepers), sum(t.done() for t in tasks))
            calm = calm + 1 if now == state else 0
            state = now

    async def run(self, *coros: Coroutine[Any, Any, Any]) -> list[Any]:
        """Run ``coros`` to the end, moving time as they sleep; their results."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            await self._settle(tasks)
            if all(t.done() for t in tasks):
                break
            assert self._sleepers, "every task is stuck, and none is asleep"
            when, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, when)
            future.set_result(None)
        return [t.result() for t in tasks]


class Telegram:
    """Stands in for the Bot API behind the limiter: the sandbox's limits on virtual time
    decide each request (429 with retry_after, as Telegram); what passed is recorded."""

    def __init__(self, time: VirtualTime, limits: RateLimits | None = None) -> None:
        self.time = time
        self.limits = RateLimiter(limits or RateLimits(), clock=time.clock)
        self.sent: list[tuple[float, str, str | None, str]] = []  # (when, method, chat, label)
        self.refused = 0
        self.storms: list[tuple[float, int]] = []  # (from when, retry_after): one 429 each

    async def request(self, method: str, chat: str | None, label: str) -> bool:
        now = self.time.now
        if self.storms and now >= self.storms[0][0]:
            _, retry_after = self.storms.pop(0)
            self.refused += 1
            raise RetryAfter(timedelta(seconds=retry_after))
        retry_after = self.limits.check(method, chat)
        if retry_after is not None:
            self.refused += 1
            raise RetryAfter(timedelta(seconds=retry_after))
        self.sent.append((now, method, chat, label))
        return True

    def times(self, label_start: str) -> list[float]:
        return [when for when, _, _, label in self.sent if label.startswith(label_start)]


def limiter_on(time: VirtualTime, limits: Limits | None = None, **kwargs: Any) -> BudgetLimiter:
    budget = LocalBudget(limits or Limits(), clock=time.clock)  # Telegram's figures
    return BudgetLimiter(budget, sleep=time.sleep, **kwargs)


async def call(
    limiter: BudgetLimiter,
    telegram: Telegram,
    label: str,
    chat: Any = None,
    method: str = "sendMessage",
    args: dict[str, str] | None = None,
) -> Any:
    """One request through the limiter, as ExtBot makes it."""
    data = {} if chat is None else {"chat_id": chat}
    return await limiter.process_request(
        callback=telegram.request,
        args=(method, None if chat is None else str(chat), label),
        kwargs={},
        endpoint=method,
        data=data,
        rate_limit_args=args,
    )


async def at(time: VirtualTime, when: float, then: Callable[[], Awaitable[Any]]) -> float:
    """Start ``then`` at virtual time ``when``; how long it waited for the limiter."""
    await time.sleep(when - time.now)
    started = time.now
    await then()
    return time.now - started


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] > window:
            first += 1
        most = max(most, last - first + 1)
    return most


# -- the limiter on virtual time -----------------------------------------------------------------


async def test_replies_get_slots_at_once_while_broadcasts_wait_for_what_is_left() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limiter = limiter_on(time)
    broadcasts = [
        call(limiter, telegram, f"b{n}", 1000 + n, args=BROADCAST_ARGS) for n in range(300)
    ]
    # From t=1 s to t=6 s, 20 replies a second (to different people): the broadcast gets
    # what is left.
    replies = [
        at(time, 1 + n / 20, lambda n=n: call(limiter, telegram, f"r{n}", 5000 + n))
        for n in range(100)
    ]
    results = await time.run(*broadcasts, *replies)
    waits = results[300:]
    assert telegram.refused == 0
    assert sorted(waits)[len(waits) // 2] == 0  # most replies do not wait at all...
    assert max(waits) < 0.05  # ...and none waits behind the broadcast
    sent_broadcasts = telegram.times("b")
    assert len(sent_broadcasts) == 300  # nothing lost: the broadcast took what was left
    during = [t for t in sent_broadcasts if 1.1 < t < 6]
    assert len(during) < 5 * 29.5 - 100 + 10  # replies had the budget first
    assert limiter.counts == {BROADCAST: 300, REPLY: 100}


async def test_without_priority_the_same_replies_queue_behind_the_broadcast() -> None:
    """The baseline for the test above: replies sent as broadcasts wait their turn."""
    time = VirtualTime()
    telegram = Telegram(time)
    limiter = limiter_on(time)
    broadcasts = [
        call(limiter, telegram, f"b{n}", 1000 + n, args=BROADCAST_ARGS) for n in range(300)
    ]
    replies = [
        at(
            time,
            1 + n / 4,
            lambda n=n: call(limiter, telegram, f"r{n}", 5000 + n, args=BROADCAST_ARGS),
        )
        for n in range(10)
    ]
    waits = (await time.run(*broadcasts, *replies))[300:]
    assert min(waits) > 1.0  # behind most of the broadcast's queue


async def test_broadcasts_never_exceed_the_overall_rate() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limits = Limits()
    limiter = limiter_on(time, limits)
    await time.run(
        *(call(limiter, telegram, f"b{n}", 1000 + n, args=BROADCAST_ARGS) for n in range(600))
    )
    sent = telegram.times("b")
    assert len(sent) == 600 and telegram.refused == 0
    for window in (0.1, 0.5, 1.0, 5.0):
        assert (
            max_in_window(sent, window) <= limits.overall_burst + limits.overall_per_second * window
        )
    steady = sent[10:]  # after the first short burst
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert rate == pytest.approx(limits.overall_per_second)  # all of the budget, no more


async def test_one_chat_gets_about_one_message_a_second_after_a_short_burst() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limits = Limits()
    limiter = limiter_on(time, limits)
    await time.run(*(call(limiter, telegram, f"r{n}", 42) for n in range(10)))
    sent = telegram.times("r")
    assert telegram.refused == 0
    assert sent[:2] == [0.0, 0.0]  # a short burst...
    gaps = [b - a for a, b in itertools.pairwise(sent[2:])]
    assert all(abs(gap - 1.0) < 1e-6 for gap in gaps)  # ...then one a second
    assert max_in_window(sent, 1.0) <= limits.chat_burst + 1


async def test_a_group_gets_twenty_a_minute() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limiter = limiter_on(time)
    await time.run(*(call(limiter, telegram, f"g{n}", -100123) for n in range(25)))
    sent = telegram.times("g")
    assert telegram.refused == 0 and len(sent) == 25
    assert sent[18] < 1  # a burst (Telegram's 20, less one; paced by the overall budget)...
    gaps = [b - a for a, b in itertools.pairwise(sent[19:])]
    assert all(abs(gap - 3.0) < 1e-6 for gap in gaps)  # ...then one every 3 s: 20 a minute


async def test_other_chats_do_not_wait_for_a_busy_one() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limiter = limiter_on(time)
    busy = [call(limiter, telegram, f"busy{n}", 7, args=BROADCAST_ARGS) for n in range(5)]
    others = [
        at(time, 0.5, lambda n=n: call(limiter, telegram, f"o{n}", 100 + n)) for n in range(3)
    ]
    waits = (await time.run(*busy, *others))[5:]
    assert waits == [0.0, 0.0, 0.0]


async def test_a_429_holds_every_request_for_its_retry_after() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    telegram.storms.append((1.0, 5))  # the first request from t=1 s is refused: wait 5 s
    limiter = limiter_on(time)
    broadcasts = [
        call(limiter, telegram, f"b{n}", 1000 + n, args=BROADCAST_ARGS) for n in range(100)
    ]
    later = [
        at(time, 2.0, lambda: call(limiter, telegram, "reply", 9)),
        at(time, 3.0, lambda: call(limiter, telegram, "spinner", None, "answerCallbackQuery")),
    ]
    await time.run(*broadcasts, *later)
    assert telegram.refused == 1
    assert not [when for when, *_ in telegram.sent if 1.0 <= when < 6.0]  # nothing at all
    assert telegram.times("reply")[0] >= 6.0 and telegram.times("spinner")[0] >= 6.0
    assert len(telegram.times("b")) == 100  # the refused one was sent again, once
    assert limiter.counts["flood_waits"] == 1 and limiter.counts["surfaced"] == 0


async def test_a_429_reaches_the_caller_only_after_the_retries_or_when_too_long() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    telegram.storms.extend([(0.0, 1)] * 3)
    limiter = limiter_on(time, max_retries=2)
    with pytest.raises(RetryAfter):
        await time.run(call(limiter, telegram, "r", 1))
    assert limiter.counts["surfaced"] == 1 and time.now >= 2.0

    time = VirtualTime()
    telegram = Telegram(time)
    telegram.storms.append((0.0, 3600))  # an hour: left to the caller's own retry later
    limiter = limiter_on(time)
    with pytest.raises(RetryAfter):
        await time.run(call(limiter, telegram, "r", 1))
    assert time.now == 0.0
    # Meanwhile anything else is refused here at once, not sent into the flood wait.
    with pytest.raises(RetryAfter):
        await time.run(call(limiter, telegram, "r2", 2))
    assert telegram.refused == 1


async def test_rate_limit_args_must_say_reply_or_broadcast() -> None:
    time = VirtualTime()
    telegram = Telegram(time)
    limiter = limiter_on(time)
    await time.run(call(limiter, telegram, "r", 1, args={"priority": REPLY}))
    with pytest.raises(ValueError, match="rate_limit_args"):
        await time.run(call(limiter, telegram, "x", 1, args={"priority": "urgent"}))


async def test_the_local_budget_keeps_the_reserve_for_replies() -> None:
    time = VirtualTime()
    limits = Limits(overall_burst=5, reply_reserve=3)
    budget = LocalBudget(limits, clock=time.clock)
    assert await budget.take(BROADCAST, "1") == 0
    assert await budget.take(BROADCAST, "2") == 0
    assert await budget.take(BROADCAST, "3") > 0  # three left: theirs to keep
    for chat in ("4", "5", "6"):
        assert await budget.take(REPLY, chat) == 0
    assert await budget.take(REPLY, "7") == pytest.approx(1 / limits.overall_per_second)


def test_the_database_decides_where_the_budget_lives(tmp_path: Any) -> None:
    from bot.settings import StorageSettings

    assert isinstance(budget_for(StorageSettings(path=tmp_path / "x.db")), LocalBudget)
    shared = budget_for(StorageSettings(url="postgresql://everystage@localhost/everystage"))
    assert isinstance(shared, PostgresBudget)


# -- PostgreSQL: one budget for several workers --------------------------------------------------


@pytest.fixture
def pg_database() -> Any:
    server = postgres.server()
    fresh = server.fresh()
    try:
        yield fresh
    finally:
        server.drop(fresh.name)


async def _open(fresh: Any) -> Database:
    return await Database.open(fresh.url, password=fresh.password, pool_size=2)


async def _database_clock(db: Database) -> float:
    async with db.read() as tx:
        row = await tx.one("SELECT extract(epoch FROM clock_timestamp())::double precision")
    assert row is not None
    return float(row[0])


async def test_two_workers_share_one_budget_on_postgresql(pg_database: Any) -> None:
    # Refills are so slow here that nothing comes back during the test: only sharing counts.
    limits = Limits(overall_per_second=0.001, overall_burst=6, reply_reserve=2)
    one, two = await _open(pg_database), await _open(pg_database)
    try:
        first, second = PostgresBudget(one, limits=limits), PostgresBudget(two, limits=limits)
        assert [await first.take(BROADCAST, str(n)) for n in range(3)] == [0, 0, 0]
        assert await second.take(BROADCAST, "10") == 0  # the 4th of 6: 2 left for replies
        assert await second.take(BROADCAST, "11") > 0
        assert await first.take(BROADCAST, "12") > 0
        assert await first.take(REPLY, "13") == 0
        assert await second.take(REPLY, "14") == 0
        assert await second.take(REPLY, "15") > 0
        # One chat's bucket is shared too (1 a second, a burst of 2.5).
        chatty = Limits(overall_per_second=1000, overall_burst=100, chat_per_second=0.001)
        first, second = PostgresBudget(one, limits=chatty), PostgresBudget(two, limits=chatty)
        assert await first.take(REPLY, "77") == 0 and await second.take(REPLY, "77") == 0
        assert await first.take(REPLY, "77") > 0 and await second.take(REPLY, "77") > 0
        # A 429 one worker met holds the other.
        await first.hold(30)
        assert 25 < await second.take(REPLY, "99") <= 30
        # (held_for may be a quarter of a second stale: a new instance reads it afresh.)
        assert 25 < await PostgresBudget(two, limits=chatty).held_for() <= 30
    finally:
        await one.close()
        await two.close()


async def test_two_workers_together_stay_within_the_limit_on_postgresql(pg_database: Any) -> None:
    limits = Limits(overall_per_second=20, overall_burst=4, reply_reserve=1)
    one, two = await _open(pg_database), await _open(pg_database)
    wanted = 50
    granted: list[str] = []

    async def sender(budget: PostgresBudget, name: str, kind: Any) -> None:
        chats = itertools.count()
        while len(granted) < wanted:
            wait = await budget.take(kind, f"{name}{next(chats)}")
            if wait == 0:
                granted.append(name)
            else:
                await asyncio.sleep(wait)

    try:
        first, second = PostgresBudget(one, limits=limits), PostgresBudget(two, limits=limits)
        started = await _database_clock(one)
        await asyncio.gather(
            *(sender(first, "a", kind) for kind in (REPLY, BROADCAST, BROADCAST)),
            *(sender(second, "b", kind) for kind in (REPLY, BROADCAST, BROADCAST)),
        )
        ended = await _database_clock(one)
    finally:
        await one.close()
        await two.close()
    # Together, by the database's clock: no more than one budget allows (never twice that).
    assert len(granted) <= limits.overall_burst + limits.overall_per_second * (ended - started)
    assert {"a", "b"} <= set(granted)


async def test_a_budget_that_cannot_be_reached_leaves_this_process_pacing_alone() -> None:
    class Broken(LocalBudget):
        async def take(self, kind: Any, chat: str | None) -> float:
            raise OSError("connection refused")

    time = VirtualTime()
    telegram = Telegram(time)
    limiter = BudgetLimiter(Broken(Limits(), clock=time.clock), sleep=time.sleep)
    limiter._fallback = LocalBudget(
        Limits(), clock=time.clock
    )  # (Broken is a LocalBudget: its own)
    await time.run(*(call(limiter, telegram, f"r{n}", n) for n in range(40)))
    assert len(telegram.sent) == 40 and telegram.refused == 0
    assert limiter.counts["fallback"] >= 40


# -- end to end, through the sandbox with Telegram's limits on ------------------------------------


NOW = datetime(2026, 11, 16, 10, 30, tzinfo=UTC)  # a Monday, after the weekly nudge's 10:00
FAN_OUT = 240
FIRST_CHAT = 810_000_001
NEXT_QUESTION = "Which parts of the service"


async def test_during_a_fan_out_people_answering_get_replies_without_queueing(
    sandbox: Any, client: Any, make_settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import budget, outreach
    from bot.clock import FakeClock
    from bot.services import services_of
    from storage.db import utc_text
    from tests.conftest import join, running

    monkeypatch.setattr(budget, "DEFAULT_LIMITS", Limits())  # Telegram's, whatever the suite's
    settings = make_settings(telegram__rate_limit="true", nudges__check_every_seconds="3600")
    # Every message the bot posts, in order: (chat, text).
    posted: list[tuple[int, str]] = []
    bot_send = sandbox.world.bot_send

    def record(chat: Any, content: dict[str, Any]) -> dict[str, Any]:
        posted.append((chat.id, str(content.get("text", ""))))
        return bot_send(chat, content)

    monkeypatch.setattr(sandbox.world, "bot_send", record)
    answering = [await client.user(9100 + n) for n in range(4)]
    for n in range(FAN_OUT):
        sandbox.world.ensure_user(FIRST_CHAT + n, f"P{n}").started = True
    clock = FakeClock(NOW)
    async with running(settings, clock=clock) as app:
        for user in answering:  # joined after 10:00: not due this week's nudge
            await join(user)
        joined = utc_text(NOW - timedelta(days=2))
        async with services_of(app).db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO participants (id, pseudonym, chat_id, status, consent_version,"
                " consented_at, created_at) VALUES (?, ?, ?, 'active', 1, ?, ?)",
                [
                    (f"{n:032x}", f"F-{n:06d}", FIRST_CHAT + n, joined, joined)
                    for n in range(FAN_OUT)
                ],
            )
        await client.set_limits(reset_stats=True)  # Telegram's limits from here on
        fan_out = asyncio.ensure_future(outreach.tick(app))
        between: list[int] = []
        for n, user in enumerate(answering):
            # Each answers once the broadcast is well under way (its own chat's burst back).
            async with asyncio.timeout(60):
                while sum(chat >= FIRST_CHAT for chat, _ in posted) < 40 * (n + 1):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            before = len(posted)
            await user.press("5")
            await user.expect(NEXT_QUESTION, timeout=10)
            reply = next(
                i
                for i in range(before, len(posted))
                if posted[i][0] == user.chat_id and NEXT_QUESTION in posted[i][1]
            )
            between.append(sum(chat >= FIRST_CHAT for chat, _ in posted[before:reply]))
        still_going = sum(chat >= FIRST_CHAT for chat, _ in posted) < FAN_OUT
        report = await fan_out
        counts = app.bot.rate_limiter.counts
    # Each reply went ahead of the broadcast's queue: a few nudges went out while the bot
    # handled the press, not the ~32 sends waiting in line (about a second's worth).
    print("nudges sent between each press and its reply:", between)
    assert max(between) <= 12, between
    assert still_going  # everyone answered while the fan-out was still going
    nudged = [chat for chat, _ in posted if chat >= FIRST_CHAT]
    assert report.sent == FAN_OUT and sorted(nudged) == list(
        range(FIRST_CHAT, FIRST_CHAT + FAN_OUT)
    )
    limits = await client.limits()
    assert limits["stats"]["limited"] == 0  # not one 429 from "Telegram"...
    assert counts["surfaced"] == 0 and counts["flood_waits"] == 0  # ...nor reaching our code
    assert counts[BROADCAST] >= FAN_OUT
