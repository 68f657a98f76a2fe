"""Reliability: nothing lost, nothing doubled, nobody stuck, when Telegram or the bot misbehave.

In-process, through the sandbox: the durable inbox, poison updates, questions that do not
arrive, sends whose answer is lost, restarts. The real process under SIGKILL is in
test_chaos.py.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import outreach
from bot.app import scrub
from bot.clock import FakeClock
from bot.handlers import checkin
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.sandbox.errors import ApiError
from bot.settings import Settings
from storage import outbox
from tests.conftest import join, rows, running, settle, tap
from tests.test_logging import capturing

OPENING = "Time for the Weekly check-in"


async def answer_all(user: SandboxUser, said: str = "More evening hours") -> None:
    """From the first question to the end of the example check-in (the branch not taken)."""
    await user.press("4")
    await user.expect("Which parts of the service")
    await tap(user, "☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing first")
    await user.press("Waiting times")
    await user.expect("Anything else")
    await user.send(said)
    await user.expect("Your answers go to the team")


def answers_of(settings: Settings, chat_id: int) -> list[tuple[str, Any]]:
    found = rows(
        settings,
        "SELECT a.question_id, a.value FROM answers a JOIN participants p"
        " ON p.id = a.participant_id WHERE p.chat_id = ? ORDER BY a.id",
        (chat_id,),
    )
    return [(q, None if v is None else json.loads(v)) for q, v in found]


EXPECTED = [
    ("week", 4),
    ("used", ["Meals"]),
    ("listened", "yes"),
    ("change", "Waiting times"),
    ("anything-else", "More evening hours"),
]


def message_update(update_id: int, chat_id: int, text: str, **extra: Any) -> dict[str, Any]:
    """A raw update as Telegram sends it for a private text message."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Rae"}
    message: dict[str, Any] = {
        "message_id": 900 + update_id % 100,
        "from": person,
        "chat": {"id": chat_id, "type": "private", "first_name": "Rae"},
        "date": int(datetime.now(UTC).timestamp()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    message.update(extra)
    return {"update_id": update_id, "message": message}


# -- the durable inbox -------------------------------------------------------------------------


async def test_each_update_is_on_disk_before_telegram_is_told_and_keeps_no_content(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    confirmed_early: list[int] = []

    async def audit_offsets(method: str, params: Any) -> None:
        # Telegram forgets every update below `offset`: each must be in the inbox by then.
        offset = params.get_int("offset") if method == "getUpdates" else None
        if not offset:
            return
        stored = {r[0] for r in rows(settings, "SELECT update_id FROM inbox")}
        confirmed_early.extend(i for i in range(max(1, offset - 20), offset) if i not in stored)

    sandbox.hooks.append(audit_offsets)
    user = await client.user(5101, first_name="Rae", username="rae_sees_all")
    async with running(settings) as app:
        await join(user)
        await answer_all(user)
        await settle(sandbox, app)

    assert confirmed_early == []
    assert answers_of(settings, user.chat_id) == EXPECTED
    record = await client.updates()
    assert record["pending"] == [] and record["confirmed_count"] == 8  # /start and 7 taps
    statuses = rows(settings, "SELECT status, count(*), count(payload) FROM inbox GROUP BY status")
    assert statuses == [("handled", record["confirmed_count"], 0)]  # no content kept


async def test_an_update_delivered_twice_is_handled_once(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(5102)
    async with running(settings) as app:
        await join(user)
        await user.send("/help")
        await user.expect("Here's what I can do")
        await settle(sandbox, app)
        (help_id,) = rows(settings, "SELECT max(update_id) FROM inbox")[0]
        # Telegram sends the same update again (a confirmation that never arrived).
        await client.inject_update(message_update(help_id, user.chat_id, "/help"))
        await user.send("/privacy")
        await user.expect("We keep your answers for")
        await settle(sandbox, app)
    assert copies(await user.messages(), "Here's what I can do") == 1


async def test_malformed_updates_are_recorded_without_content_and_everyone_else_is_served(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    secret = "Jolene's-address-42"
    user = await client.user(5103)
    async with running(settings) as app:
        await join(user)
        await client.reset_updates()
        no_date = message_update(0, 5999, f"hi {secret}")
        del no_date["message"]["date"]
        await client.inject_update({k: v for k, v in no_date.items() if k != "update_id"})
        bad_entities = message_update(0, 5999, secret, entities="bold")
        await client.inject_update({"message": bad_entities["message"]})
        await client.inject_update(
            {
                "poll": {
                    "id": "p1",
                    "question": secret,
                    "options": [{"text": "a", "voter_count": 1}],
                    "total_voter_count": 1,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                }
            }
        )
        await client.inject_update(
            {
                "poll_answer": {
                    "poll_id": "p1",
                    "option_ids": [0],
                    "user": {"id": 5999, "is_bot": False, "first_name": secret},
                }
            }
        )
        await client.inject_update({"message": "not even an object"})
        # Everyone else carries on meanwhile.
        await answer_all(user)
        await settle(sandbox, app)
        record = await client.updates()

    assert answers_of(settings, user.chat_id) == EXPECTED
    unreadable = rows(settings, "SELECT error FROM inbox WHERE status = 'unreadable'")
    assert sorted(e for (e,) in unreadable) == sorted(
        ["KeyError", "AttributeError", "TypeError", "TypeError", "AttributeError"]
    )
    # No refetching the same batch in a loop: a handful of polls, not hundreds.
    assert record["get_updates_calls"] < 40, record["get_updates_calls"]
    # PostgreSQL keeps the dead row version until a scrub (a /delete, a declined consent):
    # see test_what_an_update_carried_is_gone_from_every_file_once_scrubbed.
    if not settings.storage.is_postgres:
        with sqlite3.connect(settings.storage.path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert secret.encode() not in settings.storage.path.read_bytes()


async def test_an_update_whose_handler_fails_is_recorded_and_skipped(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    unlucky, other = await client.user(5104), await client.user(5105)

    async def refuse_help(method: str, params: Any) -> None:
        to_unlucky = params.values.get("chat_id") in (str(5104), 5104)
        if method == "sendMessage" and to_unlucky and "/mydata" in str(params.values.get("text")):
            raise ApiError(400, "Bad Request: can't parse entities")

    sandbox.hooks.append(refuse_help)
    async with running(settings) as app:
        await unlucky.send("/help")
        await unlucky.expect("something went wrong")
        await join(other)
        await settle(sandbox, app)
    failed = rows(settings, "SELECT error, payload FROM inbox WHERE status = 'failed'")
    assert failed == [("BadRequest", None)]


# -- nobody is stuck ---------------------------------------------------------------------------


async def test_a_question_that_cannot_be_sent_arrives_once_telegram_is_back(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    clock = FakeClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    user = await client.user(5106)
    outage = {"on": False}

    async def down(method: str, params: Any) -> None:
        if outage["on"] and method == "sendMessage":
            raise ApiError(502, "Bad Gateway")

    sandbox.hooks.append(down)
    async with running(settings, clock=clock) as app:
        await join(user)
        outage["on"] = True
        await user.press("4")
        await settle(sandbox, app, timeout=20)  # the bot retries a few times first
        # Stored, but its next question could not go out, even after retries.
        assert answers_of(settings, user.chat_id) == [("week", 4)]
        assert "Which parts" not in ((await user.last_bot_message()).text or "")
        outage["on"] = False
        assert await checkin.resend_undelivered(app) == 0  # not yet: it may still be on its way
        clock.advance(timedelta(minutes=1))
        assert await checkin.resend_undelivered(app) == 1
        await user.expect("Which parts of the service")
        assert await checkin.resend_undelivered(app) == 0  # and only once


async def test_after_a_crash_the_question_on_its_way_goes_out_at_start_up(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(5107)
    outage = {"on": False}

    async def down(method: str, params: Any) -> None:
        if outage["on"] and method == "sendMessage":
            raise ApiError(500, "Internal Server Error")

    sandbox.hooks.append(down)
    async with running(settings) as app:
        await join(user)
        outage["on"] = True
        await user.press("4")
        await settle(sandbox, app, timeout=20)
    outage["on"] = False
    async with running(settings):
        # Nobody writes anything: the question comes by itself.
        await user.expect("Which parts of the service")
        await tap(user, "☐ Meals")


async def test_any_message_or_an_old_keyboard_shows_the_current_question(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(5108)
    async with running(settings):
        await join(user)
        first = await user.last_bot_message()
        await user.send("/checkin")  # the question again: the first copy keeps its buttons
        await user.expect("Let's carry on")
        await user.press("4")
        await user.expect("Which parts of the service")
        query = await user.press("2", message_id=first.message_id)
        assert (await user.wait_callback_answer(query))["text"].startswith("That question")
        again = await user.expect("Here's the question you're on now")
        assert "Which parts of the service" in again.text
        await user.send_sticker()
        await user.expect("Please tap one of the buttons")
        await tap(user, "☐ Showers")
        assert "☑ Showers" in (await user.last_bot_message()).button_texts()
    assert answers_of(settings, user.chat_id) == [("week", 4)]


async def test_ten_percent_5xx_on_sends_and_edits_leaves_nobody_stuck(
    client: SandboxClient, settings: Settings
) -> None:
    await client.set_faults(
        error_rate=0.1, methods=["sendMessage", "editMessageText"], seed=20261130
    )
    users = [await client.user(5200 + i) for i in range(8)]
    async with running(settings):
        for user in users:  # one after another, so the seeded faults land the same every run
            await join(user)
            await answer_all(user)
    stats = await client.faults()
    assert stats["stats"]["errors"] > 0  # faults really happened
    for user in users:
        assert answers_of(settings, user.chat_id) == EXPECTED


async def test_inbox_updates_left_by_a_crash_are_handled_at_start_up_once(
    client: SandboxClient, settings: Settings
) -> None:
    user, looping = await client.user(5109), await client.user(5110)
    async with running(settings):
        for person in (user, looping):  # they have written to the bot before
            await person.send("/help")
            await person.expect("Here's what I can do")
    # What a crash leaves: updates stored (and so confirmed to Telegram), not yet handled;
    # one of them has been in flight at three earlier crashes already.
    for update_id, chat, attempts in ((70001, user.chat_id, 0), (70002, looping.chat_id, 3)):
        rows(
            settings,
            "INSERT INTO inbox (update_id, payload, received_at, attempts)"
            " VALUES (?, ?, '2026-11-30T12:00:00.000000Z', ?)",
            (update_id, json.dumps(message_update(update_id, chat, "/start")), attempts),
        )
    async with running(settings):
        await user.expect("Is that OK with you?")
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
    assert copies(await looping.messages(), "") == 1  # only the earlier /help reply
    assert rows(
        settings,
        "SELECT update_id, status, error, payload FROM inbox WHERE update_id"
        " > 70000 ORDER BY update_id",
    ) == [
        (70001, "handled", None, None),
        (70002, "failed", "crashed the bot", None),
    ]


# -- nudges and one-off messages: at most one extra copy, never lost --------------------------


@pytest.fixture
def nudge_settings(make_settings: Any) -> Settings:
    """Ticks happen when the test says."""
    return make_settings(nudges__check_every_seconds="3600")


async def joined(client: SandboxClient, first_id: int, n: int) -> list[SandboxUser]:
    users = [await client.user(first_id + i) for i in range(n)]
    for user in users:
        await join(user)
        await user.send("/stop")  # no open check-in, so the nudge goes out
        await user.send("/start")
        await user.expect("taking part again")
    return users


def copies(messages: list, text: str) -> int:
    return sum(1 for m in messages if m.from_bot and text in (m.text or ""))


async def test_a_nudge_whose_answer_is_lost_is_sent_at_most_twice_and_not_counted(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(datetime(2026, 11, 12, 12, tzinfo=UTC))
    async with running(nudge_settings, clock=clock):
        users = await joined(client, 5300, 6)
    # Every nudge reaches the person, and every answer is lost on the way back.
    await client.set_after_faults(error_rate=1.0, methods=["sendMessage"], seed=3)
    clock.set(datetime(2026, 11, 16, 10, tzinfo=UTC))
    async with running(nudge_settings, clock=clock) as app:
        for _ in range(4):
            await outreach.tick(app)
            clock.advance(timedelta(minutes=1))
    await client.set_faults(enabled=False)
    for user in users:
        assert copies(await user.messages(), OPENING) == 2, user.chat_id
    attempts = rows(
        nudge_settings,
        "SELECT a.outcome, count(*) FROM send_attempts a JOIN occurrences o ON o.id ="
        " a.source_id WHERE a.source = 'occurrences' AND o.checkin_id = 'weekly'"
        " GROUP BY a.outcome",
    )
    assert attempts == [("uncertain", 12)]
    # Maybe delivered is not delivered: not counted as asked, no reminder storm either.
    assert rows(nudge_settings, "SELECT count(*) FROM occurrences WHERE sent_at IS NOT NULL") == [
        (0,)
    ]
    assert rows(nudge_settings, "SELECT count(*) FROM occurrences WHERE status = 'open'") != [(0,)]


async def test_sends_in_flight_at_a_crash_go_out_once_more(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(datetime(2026, 11, 12, 12, tzinfo=UTC))
    async with running(nudge_settings, clock=clock):
        users = await joined(client, 5400, 5)
    clock.set(datetime(2026, 11, 16, 10, tzinfo=UTC))
    async with running(nudge_settings, clock=clock) as app:
        # What SIGKILL between "claimed" and "Telegram answered" leaves behind.
        services = app.bot_data["everystage.services"]
        await outreach.plan(services, clock.now())
        await outreach.change_stage(app, "delivery", source="test")  # and stage news
        for message in await outbox.due(services.db, clock.now()):
            assert await outbox.claim(services.db, message, clock.now()) is not None
    async with running(nudge_settings, clock=clock) as app:
        await outreach.tick(app)
    for user in users:
        assert copies(await user.messages(), OPENING) == 1, user.chat_id
        assert copies(await user.messages(), "moved to the delivery stage") == 1, user.chat_id
    assert rows(
        nudge_settings,
        "SELECT a.outcome, a.error, count(*) FROM send_attempts a JOIN occurrences o"
        " ON o.id = a.source_id WHERE a.source = 'occurrences' AND o.checkin_id = 'weekly'"
        " GROUP BY 1, 2 ORDER BY 1",
    ) == [("sent", None, 5), ("uncertain", "interrupted", 5)]
    assert rows(nudge_settings, "SELECT status, count(*) FROM outbox GROUP BY status") == [
        ("sent", 5)
    ]


async def test_stage_news_is_sent_only_when_confirmed(
    client: SandboxClient, nudge_settings: Settings
) -> None:
    clock = FakeClock(datetime(2026, 11, 12, 12, tzinfo=UTC))
    async with running(nudge_settings, clock=clock):
        users = await joined(client, 5500, 4)
    await client.set_after_faults(error_rate=1.0, methods=["sendMessage"], seed=5)
    async with running(nudge_settings, clock=clock) as app:
        await outreach.change_stage(app, "delivery", source="test")
        for _ in range(3):
            await outreach.tick(app)
            clock.advance(timedelta(minutes=1))
    await client.set_faults(enabled=False)
    for user in users:
        assert copies(await user.messages(), "moved to the delivery stage") == 2
    assert rows(nudge_settings, "SELECT status, count(*) FROM outbox GROUP BY status") == [
        ("uncertain", 4)
    ]


# -- input limits ------------------------------------------------------------------------------


async def test_a_voice_note_over_the_limit_is_refused_before_download(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(5111)
    async with running(settings) as app:
        await join(user)
        await user.press("2")
        await user.expect("What made it hard?")
        sandbox.reset_log()
        await user.send_voice(b"OggS tiny", file_size=105 * 1024 * 1024)
        await user.expect("too big for me to keep")
        await user.send_voice(b"OggS fine", suffix="." + "x" * 300)
        await user.expect("Which parts of the service")
        await settle(sandbox, app)
    assert [r["method"] for r in sandbox.requests].count("getFile") == 1
    saved = list(settings.storage.files_path.iterdir())
    assert len(saved) == 1 and saved[0].suffix == ".ogg" and saved[0].read_bytes() == b"OggS fine"


async def test_a_429_storm_is_one_line_in_the_log_and_everyone_gets_their_question(
    sandbox: Sandbox, client: SandboxClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter without a deprecation warning
    users = [await client.user(5600 + i) for i in range(6)]
    with capturing("INFO") as log:
        async with running(settings) as app:
            for user in users:
                await join(user)
            await client.start_storm(calls=40, retry_after=1)
            for user in users:
                await user.press("4")
            for user in users:
                await user.expect("Which parts of the service", timeout=20)
            await settle(sandbox, app, timeout=20)
    storm = (await client.limits())["storm"]
    assert storm["limited"] >= 6  # every question met the storm at least once
    # This storm's lines: not the tally of an earlier test's storm ("... ended after N more
    # failures", logged at the next one), nor a file path that holds this test's name.
    lines = [
        line
        for line in log.getvalue().splitlines()
        if ("429" in line or "RetryAfter" in line)
        and "ended after" not in line
        and "tightened permissions" not in line
    ]
    assert "Traceback" not in log.getvalue()
    assert len(lines) <= 2, lines


@pytest.mark.sqlite_only(
    "the 30-second scrub truncates SQLite's WAL; on PostgreSQL a handled update's content stays"
    " in a dead row version until the next erasure's scrub (README: What Everystage guarantees)"
)
async def test_what_an_update_carried_is_gone_from_every_file_once_scrubbed(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    stranger = await client.user(5801, first_name="Ottoline")
    async with running(settings) as app:
        await stranger.send("my brother's address is 9 Pell Street")
        await stranger.expect("send /start first")
        await settle(sandbox, app)
        # Handled: erased in the database at once; the write-ahead log still holds the page
        # until the next scrub (every 30 s), which the job runs as below.
        await scrub(app)
        files = [p for p in settings.storage.path.parent.iterdir() if p.is_file()]
        for path in files:
            data = path.read_bytes()
            assert b"Pell Street" not in data and b"Ottoline" not in data, path.name
    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]
