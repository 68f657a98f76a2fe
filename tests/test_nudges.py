"""Nudges through the sandbox with a fake clock: weeks of schedules, no real waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import outreach
from bot.clock import FakeClock
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.sandbox.errors import ApiError
from bot.settings import Settings
from conversations.schedule import (
    AfterJoining,
    Person,
    QuietHours,
    RandomDaily,
    StageNow,
    Weekly,
    latest,
)
from tests.conftest import EXAMPLE, join, rows, running

LONDON = "Europe/London"
OPENING = "Time for the Weekly check-in"
REMINDER = "gentle reminder"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the pure schedule -------------------------------------------------------------------------


def test_weekly_keeps_local_time_across_the_clock_change() -> None:
    from zoneinfo import ZoneInfo

    person = Person("p", utc(2026, 10, 1), ZoneInfo(LONDON))
    stage = StageNow("design", utc(2026, 10, 1))
    weekly = Weekly(kind="weekly", days=["mon"], time="10:00")
    # British Summer Time ends on Sunday 25 October 2026.
    before = latest(weekly, person, stage, "w", utc(2026, 10, 19, 12))
    after = latest(weekly, person, stage, "w", utc(2026, 10, 26, 12))
    assert before.due == utc(2026, 10, 19, 9) and before.key == "week:2026-10-19"
    assert after.due == utc(2026, 10, 26, 10) and after.key == "week:2026-10-26"
    assert latest(weekly, person, stage, "w", utc(2026, 10, 26, 9, 59)).key == "week:2026-10-19"


def test_fortnightly_and_stage_only_preferences_thin_the_schedule() -> None:
    from zoneinfo import ZoneInfo

    stage = StageNow("design", utc(2026, 10, 1))
    weekly = Weekly(kind="weekly", days=["mon"], time="10:00")
    keys = set()
    for week in range(6):
        now = utc(2026, 11, 2, 12) + timedelta(weeks=week)
        person = Person("p", utc(2026, 10, 1), ZoneInfo(LONDON), "fortnightly")
        keys.add(latest(weekly, person, stage, "w", now).key)
    assert len(keys) == 3
    only = Person("p", utc(2026, 10, 1), ZoneInfo(LONDON), "stage_only")
    assert latest(weekly, only, stage, "w", utc(2026, 11, 9, 12)) is None


def test_after_joining_and_random_window_are_stable() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(LONDON)
    person = Person("p", utc(2026, 11, 2, 15), zone)
    stage = StageNow("design", utc(2026, 10, 1))
    joined = AfterJoining(kind="after_joining", days=3, time="11:00")
    assert latest(joined, person, stage, "j", utc(2026, 11, 5, 10, 59)) is None
    assert latest(joined, person, stage, "j", utc(2026, 11, 5, 11)).key == "joined+3d"

    window = RandomDaily(kind="random_daily", window=("10:00", "18:00"))
    moments = [
        latest(window, person, stage, "r", utc(2026, 11, day, 23)).due for day in range(3, 20)
    ]
    assert all(10 <= m.astimezone(zone).hour < 18 for m in moments)
    assert len({m.time() for m in moments}) > 5  # really random across days
    again = latest(window, person, stage, "r", utc(2026, 11, 19, 23)).due
    assert again == moments[-1]  # ...but the same when asked again


def test_quiet_hours_defer_to_their_end() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(LONDON)
    quiet = QuietHours.parse(["21:00", "09:00"])
    assert quiet.defer(utc(2026, 11, 2, 22), zone) == utc(2026, 11, 3, 9)
    assert quiet.defer(utc(2026, 11, 3, 3), zone) == utc(2026, 11, 3, 9)
    assert quiet.defer(utc(2026, 11, 3, 12), zone) == utc(2026, 11, 3, 12)
    assert QuietHours.parse(["09:00", "09:00"]) is None


# -- through the sandbox -----------------------------------------------------------------------


@pytest.fixture
def weekly_only(tmp_path: Path) -> Path:
    """The example project with only the weekly check-in scheduled, so counts stay simple."""
    text = EXAMPLE.read_text()
    start = text.index('schedule = [\n  { kind = "after_joining"')
    end = text.index("]\n", start) + 2
    text = text[:start] + text[end:]
    text = text.replace(
        'schedule = [{ kind = "random_daily"', '# schedule = [{ kind = "random_daily"'
    )
    path = tmp_path / "weekly-only.toml"
    path.write_text(text)
    return path


@pytest.fixture
def nudge_settings(make_settings: Any, weekly_only: Path) -> Settings:
    """The background job waits an hour, so ticks happen when the test says."""
    return make_settings(weekly_only, nudges__check_every_seconds="3600")


def count(messages: list, text: str) -> int:
    return sum(1 for m in messages if m.from_bot and text in (m.text or ""))


async def test_weekly_nudge_goes_once_in_local_time_across_the_clock_change(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 10, 15, 12))
    user = await client.user(6001)
    async with running(nudge_settings, clock=clock) as app:
        await join(user)
        for moment, expected in [
            (utc(2026, 10, 19, 8, 59), 0),  # Monday, 09:59 BST
            (utc(2026, 10, 19, 9, 0), 1),  # Monday, 10:00 BST
            (utc(2026, 10, 19, 9, 30), 1),  # a second tick sends nothing more
            (utc(2026, 10, 26, 9, 30), 1),  # after the change, 09:30 GMT is not yet 10:00
            (utc(2026, 10, 26, 10, 0), 2),
        ]:
            clock.set(moment)
            await outreach.tick(app)
            assert count(await user.messages(), OPENING) == expected, moment
    weekly = "SELECT count(*) FROM occurrences WHERE checkin_id = 'weekly'"
    assert rows(nudge_settings, weekly) == [(2,)]


async def test_reminders_only_for_people_who_have_not_answered(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    keen, busy = await client.user(6002), await client.user(6003)
    async with running(nudge_settings, clock=clock) as app:
        for user in (keen, busy):
            await join(user)
            await user.send("/stop")  # leave the first check-in unanswered...
            await user.send("/start")  # ...and come back (still consented)
            await user.expect("taking part again")
        clock.set(utc(2026, 11, 16, 10))
        await outreach.tick(app)
        await keen.expect(OPENING)
        await keen.press("▶ Start now")
        await keen.expect("How has your week been?")
        await keen.press("5")
        await keen.expect("Which parts of the service")  # the next question, not the edit
        await keen.press("☐ Meals")
        await keen.wait_for_bot_message()  # the ticked box
        await keen.press("Done ✔")
        await keen.expect("Did staff listen")
        for label, wait in (("Yes", "change one thing"), ("Opening hours", "Anything else")):
            await keen.press(label)
            await keen.expect(wait)
        await keen.send("more hours")
        await keen.expect("Your answers go to the team")

        clock.set(utc(2026, 11, 17, 10, 1))  # 24 hours later
        report = await outreach.tick(app)
        assert report.sent == 1
        await busy.expect(REMINDER)
    assert count(await keen.messages(), REMINDER) == 0
    [(status, late)] = rows(
        nudge_settings,
        "SELECT o.status, o.late FROM occurrences o JOIN participants p"
        " ON p.id = o.participant_id WHERE p.chat_id = 6002",
    )
    assert (status, late) == ("answered", 0)


async def test_quiet_hours_snooze_expiry_and_late_answers(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    user = await client.user(6004)
    async with running(nudge_settings, clock=clock) as app:
        await join(user)
        await user.send("/stop")
        await user.send("/start")
        await user.expect("taking part again")
        # Their own quiet hours: 20:00-10:00, so Monday 10:00 is still fine, 09:59 is not.
        await user.send("/settings")
        await user.expect("Your settings")
        await user.press("Quiet hours")
        await user.wait_for_bot_message()
        await user.press("20:00–10:00")
        await user.expect("20:00–10:00")

        clock.set(utc(2026, 11, 16, 10))
        await outreach.tick(app)
        await user.expect(OPENING)
        await user.press("In an hour")
        await user.expect("OK, I'll remind you at 11:00")
        clock.set(utc(2026, 11, 16, 11, 0))
        await outreach.tick(app)
        await user.expect(REMINDER)
        # The remaining reminder (48 h later) lands in quiet hours and waits for them to end.
        clock.set(utc(2026, 11, 18, 21, 0))
        report = await outreach.tick(app)
        assert report.deferred == 1 and report.sent == 0
        clock.set(utc(2026, 11, 19, 10, 0))
        assert (await outreach.tick(app)).sent == 1

        clock.set(utc(2026, 11, 20, 11))  # past the 96-hour expiry
        assert (await outreach.tick(app)).expired == 1
        await user.press("▶ Start now")  # a late answer is still welcome
        await user.expect("How has your week been?")
        for next_question in ("Which parts", "Did staff listen", "change one thing", "Anything"):
            await user.press("I'd rather not say")
            await user.expect(next_question)
        await user.press("Skip")
        await user.expect("Your answers go to the team")
    assert rows(nudge_settings, "SELECT status, late FROM occurrences") == [("answered", 1)]
    assert rows(nudge_settings, "SELECT late FROM completions WHERE occurrence_id IS NOT NULL") == [
        (1,)
    ]
    assert rows(nudge_settings, "SELECT count(*) FROM answers WHERE question_id = 'week'") == [(1,)]


async def test_downtime_past_expiry_records_a_missed_nudge_and_sends_nothing(
    client: SandboxClient, make_settings: Any, weekly_only: Path
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    user = await client.user(6007)
    settings = make_settings(weekly_only, nudges__check_every_seconds="3600")
    async with running(settings, clock=clock):
        await join(user)
    clock.set(utc(2026, 11, 21, 12))  # the bot was down past the 96-hour window
    async with running(settings, clock=clock) as app:
        assert (await outreach.tick(app)).sent == 0
    assert rows(settings, "SELECT status FROM occurrences") == [("missed",)]


async def test_catch_up_skip_records_late_nudges_as_missed(
    client: SandboxClient, make_settings: Any, weekly_only: Path
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    user = await client.user(6008)
    settings = make_settings(
        weekly_only, nudges__check_every_seconds="3600", nudges__catch_up="skip"
    )
    async with running(settings, clock=clock):
        await join(user)
    clock.set(utc(2026, 11, 16, 14))  # four hours after it was due, but still open
    async with running(settings, clock=clock) as app:
        assert (await outreach.tick(app)).sent == 0
    assert rows(settings, "SELECT status FROM occurrences") == [("missed",)]


async def test_pause_stops_nudges_until_resume(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    user = await client.user(6005)
    async with running(nudge_settings, clock=clock) as app:
        await join(user)
        await user.send("/pause")
        await user.expect("I've paused")
        clock.set(utc(2026, 11, 16, 10))
        await outreach.tick(app)
        assert count(await user.messages(), OPENING) == 0
        await user.send("/resume")
        await user.expect("you're back")
        await outreach.tick(app)
        await user.expect(OPENING)


async def test_a_stage_change_reaches_every_active_person_once(
    client: SandboxClient, make_settings: Any
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    users = [await client.user(6100 + i) for i in range(3)]
    design = make_settings(nudges__check_every_seconds="3600")
    async with running(design, clock=clock):
        for user in users:
            await join(user)
        await users[2].send("/pause")
        await users[2].expect("I've paused")
    delivery = make_settings(project__current_stage="delivery")
    for _restart in range(2):
        async with running(delivery, clock=clock) as app:
            await outreach.tick(app)
    for user in users[:2]:
        assert count(await user.messages(), "moved to the delivery stage") == 1
        assert count(await user.messages(), "Tell us how it is working") == 1
    assert count(await users[2].messages(), "moved to the delivery stage") == 0


async def test_blocked_people_become_unreachable_and_keep_their_data(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    user = await client.user(6006)
    async with running(nudge_settings, clock=clock) as app:
        await join(user)
        await user.press("3")
        await user.expect("Which parts")
        await user.block()
        clock.set(utc(2026, 11, 16, 10))
        report = await outreach.tick(app)
        assert report.unreachable == 1
        clock.set(utc(2026, 11, 23, 10))
        assert (await outreach.tick(app)).sent == 0
    assert rows(nudge_settings, "SELECT unreachable_since IS NOT NULL FROM participants") == [(1,)]
    assert rows(nudge_settings, "SELECT count(*) FROM answers") == [(1,)]


async def many(client: SandboxClient, clock: FakeClock, app: Any, n: int) -> list[SandboxUser]:
    users = [await client.user(7000 + i) for i in range(n)]
    for user in users:
        await join(user)
        await user.send("/stop")
        await user.send("/start")
        await user.expect("taking part again")
    return users


async def test_a_restart_mid_broadcast_delivers_each_nudge_exactly_once(
    sandbox: Sandbox, client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(utc(2026, 11, 12, 12))
    async with running(nudge_settings, clock=clock) as app:
        users = await many(client, clock, app, 40)

    sending = asyncio.Event()

    async def slow(method: str, params: Any) -> None:
        if method == "sendMessage":
            sending.set()
            await asyncio.sleep(0.3)

    sandbox.hooks.append(slow)
    clock.set(utc(2026, 11, 16, 10))

    async def broadcast(context: Any) -> None:
        await outreach.tick(context.application)

    async with running(nudge_settings, clock=clock) as app:
        app.job_queue.run_once(broadcast, 0)  # as the real job runs it
        await asyncio.wait_for(sending.wait(), 10)  # stop part-way: some in flight, some not
    first_wave = sum([count(await u.messages(), OPENING) for u in users])
    assert 0 < first_wave < len(users)
    async with running(nudge_settings, clock=clock) as app:
        await outreach.tick(app)
    for user in users:
        assert count(await user.messages(), OPENING) == 1, user.chat_id


async def test_a_429_storm_and_lost_answers_deliver_each_nudge_once_and_record_it(
    sandbox: Sandbox,
    client: SandboxClient,
    nudge_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter without a deprecation warning
    clock = FakeClock(utc(2026, 11, 12, 12))
    async with running(nudge_settings, clock=clock) as app:
        users = await many(client, clock, app, 30)

    storm = {"left": 20}
    failed_once: set[int] = set()
    unlucky = {u.chat_id for u in users[::3]}

    async def unreliable(method: str, params: Any) -> None:
        if method != "sendMessage":
            return
        if storm["left"] > 0:
            storm["left"] -= 1
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        chat = int(params.values["chat_id"])
        if chat in unlucky and chat not in failed_once:
            # Telegram's front end answers 502: the bot cannot know whether it went out.
            failed_once.add(chat)
            raise ApiError(502, "Bad Gateway")

    sandbox.hooks.append(unreliable)
    clock.set(utc(2026, 11, 16, 10))
    async with running(nudge_settings, clock=clock) as app:
        for _ in range(5):
            await outreach.tick(app)
            clock.advance(timedelta(minutes=2))
    for user in users:
        assert count(await user.messages(), OPENING) == 1, user.chat_id
    # The ambiguity is on record: one uncertain attempt, then the confirmed one.
    outcomes: dict[int, list[str]] = {}
    for chat_id, outcome in rows(
        nudge_settings,
        "SELECT p.chat_id, a.outcome FROM send_attempts a"
        " JOIN participants p ON p.id = a.participant_id WHERE a.source = 'occurrences'"
        " ORDER BY a.id",
    ):
        outcomes.setdefault(chat_id, []).append(outcome)
    assert len(outcomes) == len(users)
    for chat_id, (*before, last) in outcomes.items():
        assert last == "sent" and set(before) <= {"not_sent", "uncertain"}, (chat_id, before)
        assert before.count("uncertain") == (chat_id in unlucky), (chat_id, before)


def test_config_example_shows_every_schedule_kind() -> None:
    text = EXAMPLE.read_text()
    for kind in ("weekly", "after_joining", "stage_entry", "random_daily"):
        assert f'kind = "{kind}"' in text
