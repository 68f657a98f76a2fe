"""Safeguarding: support at once for the person, an alert without their words for the team."""

from __future__ import annotations

import json
import logging
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.sandbox import SandboxClient, SandboxUser
from bot.settings import DEFAULT_PHRASES, Settings
from conversations.safeguarding import compile_phrases, normalise
from tests.conftest import EXAMPLE, raw_database_bytes, reaches_disk, rows, running
from tests.conftest import join as join_project

ALEX, BEA, STRANGER_IN_TEAM = 9001, 9002, 9003
TEAM_CHAT = -100500
REACHED_OUT = "It sounds like things might be really hard right now"
WORRYING = "Honestly I want to end it all. Wombat-7781 knows why."


# ---------------------------------------------------------------------------------------------
# The matcher.

MATCHER = compile_phrases(DEFAULT_PHRASES)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to KILL MYSELF", "suicide"),
        ("SUICÍDE", "suicide"),
        ("Suicidal again this week", "suicide"),
        ("i don’t want to be here anymore", "suicide"),
        ("I dont want to be here", "suicide"),
        ("Better off   dead, tbh", "suicide"),
        ("been thinking about self-harm", "self-harm"),
        ("Self Harm", "self-harm"),
        ("I OD’d on Friday", "overdose"),
        ("Took too many of them", "overdose"),
        ("I'm not safe at home", "harm from others"),
        ("I could kill him", "harm to others"),
    ],
)
def test_phrases_match_whatever_the_case_accents_or_apostrophes(text: str, category: str) -> None:
    assert MATCHER.match(text) == category


@pytest.mark.parametrize(
    "text",
    [
        "skill myself up with a course",
        "I killed it at work today",
        "That's odd",
        "endless hours at the drop-in",
        "a cutting remark",
        "🙂🙂",
        "",
        None,
    ],
)
def test_no_false_alarms_on_nearby_words(text: str | None) -> None:
    assert MATCHER.match(text) is None


def test_normalise_and_wildcards() -> None:
    assert normalise("  Ça  VA?\tdon’t—stop ") == "ca va don t stop"
    assert normalise("İstanbul STRASSE straße") == "istanbul strasse strasse"
    custom = compile_phrases({"suicide": ["suicid*"], "empty": ["", "  ", "*"]})
    assert custom.match("feeling suicidally low") == "suicide"
    assert custom.match("suicid") == "suicide"
    assert custom.match("unsuicidal") is None


# ---------------------------------------------------------------------------------------------
# Through the bot.


@pytest.fixture
def team(make_settings: Any) -> Settings:
    return make_settings(
        coordinators__user_ids=f"[{ALEX}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )


async def join(user: SandboxUser, settings: Settings) -> str:
    """Agree and answer "1", so the check-in asks what made the week hard; the pseudonym."""
    await join_project(user)
    await user.press("1")
    await user.expect("What made it hard?")
    [(pseudonym,)] = rows(
        settings, "SELECT pseudonym FROM participants WHERE chat_id = ?", (user.chat_id,)
    )
    return str(pseudonym)


def support_count(messages: list[Any]) -> int:
    return sum(REACHED_OUT in (m.text or "") for m in messages if m.from_bot)


async def test_a_worrying_answer_gets_resources_at_once_and_an_alert_without_the_words(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        user = await client.user(5001, first_name="Robin")
        pseudonym = await join(user, team)

        await user.send(WORRYING)
        support = await user.expect(REACHED_OUT)
        assert "Samaritans: 116 123 (free) (24/7)" in support.text
        assert "call 999" in support.text and "not an emergency service" in support.text
        assert "let the project team know" in support.text
        await user.expect("Which parts of the service")  # the check-in carries on

        alert = await group.expect("Safeguarding alert")
        assert pseudonym in alert.text
        assert "Weekly check-in (question hard-part)" in alert.text
        assert "About: suicide" in alert.text
        assert "Wombat-7781" not in alert.text and "end it all" not in alert.text
        assert "Robin" not in alert.text and "5001" not in alert.text
        assert alert.button_texts() == ["I'm on it"]

        # Again in the same check-in: no second message, no second alert.
        await user.send("I took too many pills")
        await user.expect("Please tap one of the buttons")
        await user.press("☐ Meals")
        await user.press("Done ✔")
        await user.expect("Did staff listen")
        assert support_count(await user.messages()) == 1
        assert len([m for m in await group.messages() if m.from_bot]) == 1

        # "I'm on it".
        query = await group.press(ALEX, "I'm on it")
        assert (await group.wait_callback_answer(query))["text"] == "Thank you. It's yours."
        taken = await group.expect("Alex is on it")
        assert taken.message_id == alert.message_id and taken.buttons == []

    [(value,)] = rows(team, "SELECT value FROM answers WHERE question_id = 'hard-part'")
    assert json.loads(value) == WORRYING  # still stored as their answer
    [stored] = rows(
        team,
        "SELECT checkin_id, question_id, category, shared_text, message_id, taken_by,"
        " taken_at IS NOT NULL FROM alerts",
    )
    assert stored == ("weekly", "hard-part", "suicide", None, alert.message_id, "Alex", 1)
    assert rows(team, "SELECT support_offered FROM sessions") == [(1,)]
    audit = rows(team, "SELECT actor, action, detail, allowed FROM audit_log")
    assert audit == [(str(ALEX), "alert-take", "", 1)]


async def test_the_words_are_shared_only_when_the_project_says_so(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(
        coordinators__chat_id=str(TEAM_CHAT), safeguarding__share_text_in_alerts="true"
    )
    async with running(settings):
        await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        user = await client.user(5002)
        await join(user, settings)
        await user.send(WORRYING)
        await user.expect(REACHED_OUT)
        alert = await group.expect("Safeguarding alert")
        assert "They wrote: “" + WORRYING + "”" in alert.text
    assert rows(settings, "SELECT shared_text FROM alerts") == [(WORRYING,)]


async def test_alerts_lists_open_ones_and_a_second_taker_is_told_who_has_it(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        alex = await client.user(ALEX, first_name="Alex")
        await client.user(BEA, first_name="Bea", last_name="Okafor")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)

        await alex.send("/alerts")
        await alex.expect("No open safeguarding alerts")

        user = await client.user(5003)
        pseudonym = await join(user, team)
        await user.send("he hits me when he drinks")
        await user.expect(REACHED_OUT)
        await group.expect("Safeguarding alert")

        await alex.send("/alerts")
        listed = await alex.expect("Open safeguarding alerts (1)")
        assert pseudonym in listed.text and "About: harm from others" in listed.text
        assert "drinks" not in listed.text
        assert listed.button_texts() == [f"I'm on it: {pseudonym}"]

        # Bea (in the team chat) takes it first; Alex's press from the list comes second.
        bea_query = await group.press(BEA, "I'm on it")
        assert (await group.wait_callback_answer(bea_query))["text"] == "Thank you. It's yours."
        await group.expect("Bea Okafor is on it")
        alex_query = await alex.press(f"I'm on it: {pseudonym}")
        answer = await alex.wait_callback_answer(alex_query)
        assert answer["text"] == "Bea Okafor is already on it."
        await alex.expect("No open safeguarding alerts")  # the list is redrawn

        # In the team chat, /alerts works too; in any other group it is the usual note.
        await group.send(BEA, "/alerts")
        await group.expect("No open safeguarding alerts")
        other = await client.group(-100777, "Drop-in regulars", added_by=ALEX)
        await other.send(ALEX, "/alerts")
        await other.expect("talk to me in a private chat")

    assert rows(team, "SELECT taken_by FROM alerts") == [("Bea Okafor",)]
    audit = rows(team, "SELECT actor, action, allowed FROM audit_log ORDER BY id")
    assert audit == [
        (str(ALEX), "alerts", 1),
        (str(ALEX), "alerts", 1),
        (str(BEA), "alert-take", 1),
        (str(ALEX), "alert-take", 1),
        (str(BEA), "alerts", 1),
        ("refused", "alerts", 0),  # a coordinator, but in a group that is not the team's
    ]


async def test_others_are_refused_alerts_and_the_button_and_it_is_audited_without_content(
    client: SandboxClient, make_settings: Any, team: Settings
) -> None:
    async with running(team):
        await client.user(ALEX, first_name="Alex")
        await client.user(STRANGER_IN_TEAM, first_name="Casey")
        old_group = await client.group(TEAM_CHAT, "Old team chat", added_by=ALEX)
        user = await client.user(5004)
        await join(user, team)
        await user.send(WORRYING)
        await user.expect(REACHED_OUT)
        await old_group.expect("Safeguarding alert")
        await user.send("/alerts")
        await user.expect("Sorry, that's only for the project team.")

    # The team moves to a new chat; someone left in the old one presses the old button.
    moved = make_settings(coordinators__chat_id="-100600")
    async with running(moved):
        query = await old_group.press(STRANGER_IN_TEAM, "I'm on it")
        answer = await old_group.wait_callback_answer(query)
        assert answer["text"] == "Sorry, that's only for the project team."

    assert rows(moved, "SELECT taken_by, taken_at FROM alerts") == [(None, None)]
    audit = rows(moved, "SELECT actor, action, detail, allowed FROM audit_log ORDER BY id")
    assert audit == [("refused", "alerts", "", 0), ("refused", "alert-take", "", 0)]
    assert "5004" not in str(audit) and str(STRANGER_IN_TEAM) not in str(audit)


async def test_support_for_anyone_and_nothing_kept_about_strangers(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        stranger = await client.user(5005)
        await stranger.send("/support")
        shown = await stranger.expect("These people can help")
        for name in ("Samaritans", "Shelter", "NHS 111"):
            assert name in shown.text
        assert "call 999" in shown.text

        await stranger.send("I want to kill myself, Pelican-4410")
        await stranger.expect(REACHED_OUT)
        await stranger.expect("send /start first")
        await stranger.send("I want to kill myself")
        await stranger.expect("send /start first")
        assert support_count(await stranger.messages()) == 1  # once, not every message
        await group.sync()
        assert [m for m in await group.messages() if m.from_bot] == []  # nobody to name

    assert rows(team, "SELECT count(*) FROM participants") == [(0,)]
    assert rows(team, "SELECT count(*) FROM alerts") == [(0,)]
    # PostgreSQL keeps the handled message in a dead row version until the next erasure's scrub
    # (README: What Everystage guarantees); what the bot stores holds nothing of it there too.
    if team.storage.is_postgres:
        assert rows(team, "SELECT count(*) FROM inbox WHERE payload IS NOT NULL") == [(0,)]
    else:
        assert b"Pelican-4410" not in raw_database_bytes(team)


async def test_once_per_check_in_or_once_a_day_outside_one_and_stored_without_a_team_chat(
    client: SandboxClient, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(nudges__quiet_hours="null")  # the example: no coordinators' chat
    clock = FakeClock(datetime.now(UTC))
    caplog.set_level(logging.INFO)
    async with running(settings, clock=clock):
        user = await client.user(5006)
        await join(user, settings)
        await user.send("a rough week")
        await user.expect("Which parts")
        await user.press("☐ Meals")
        await user.press("Done ✔")
        await user.expect("Did staff listen")
        await user.press("Yes")
        await user.expect("change one thing")
        await user.press("Opening hours")
        await user.expect("Anything else")
        await user.send("no")
        await user.expect("Thank you")
        assert rows(settings, "SELECT count(*) FROM sessions") == [(0,)]

        await user.send("I feel suicidal, Heron-3301")  # outside a check-in
        offered = await user.expect(REACHED_OUT)
        assert "carry on with the questions" not in offered.text
        await user.send("still suicidal")  # the same day: not again
        await user.send("/help")
        await user.expect("Here's what I can do")
        assert support_count(await user.messages()) == 1

        clock.advance(timedelta(hours=25))
        await user.send("suicidal")
        await user.expect(REACHED_OUT)
        await user.send("/checkin")  # a new check-in is a new conversation
        await user.expect("How has your week been?")
        await user.send("I want to die")
        await user.expect(REACHED_OUT)
        await user.expect("Please tap one of the buttons")
        assert support_count(await user.messages()) == 3

        await user.send("/stop")  # stopped: resources still, but nothing stored
        await user.expect("you've stopped taking part")
        await user.send("I want to die")
        await user.expect(REACHED_OUT)

    assert rows(settings, "SELECT checkin_id, question_id FROM alerts ORDER BY id") == [
        (None, None),
        (None, None),
        ("weekly", "week"),
    ]
    assert "no coordinators' chat" in caplog.text
    assert "Heron-3301" not in caplog.text and "suicidal" not in caplog.text


async def test_an_unreachable_team_chat_does_not_stop_the_check_in(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(coordinators__chat_id="-100999")  # the bot is not in it
    async with running(settings):
        user = await client.user(5007)
        await join(user, settings)
        await user.send(WORRYING)
        await user.expect(REACHED_OUT)
        await user.expect("Which parts of the service")
    assert rows(settings, "SELECT message_id FROM alerts") == [(None,)]


async def test_delete_erases_alerts_and_their_words(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(
        coordinators__user_ids=f"[{ALEX}]",
        coordinators__chat_id=str(TEAM_CHAT),
        safeguarding__share_text_in_alerts="true",
    )
    async with running(settings):
        await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        user = await client.user(5008)
        await join(user, settings)
        await user.send("I cut myself again, Lemur-5150")
        await user.expect(REACHED_OUT)
        await group.expect("Safeguarding alert")
        assert reaches_disk(settings, b"Lemur-5150")
        await user.send("/delete")
        await user.expect("Are you sure?")
        await user.press("Yes, delete it all")
        await user.expect("Everything about you has been deleted")
        alex = await client.user(ALEX, first_name="Alex")
        await alex.send("/alerts")
        await alex.expect("No open safeguarding alerts")
        # The alert in the team chat loses its details (and its button) before the erasure.
        [alert] = [m for m in await group.messages() if m.from_bot and "alert" in m.text]
        assert alert.text == "⚠️ Safeguarding alert removed: the person deleted their data."
        assert alert.buttons == [] and "Lemur-5150" not in alert.text
    assert rows(settings, "SELECT count(*) FROM alerts") == [(0,)]
    assert b"Lemur-5150" not in raw_database_bytes(settings)


def test_the_example_config_spells_out_the_default_phrases() -> None:
    example = tomllib.loads(Path(EXAMPLE).read_text())
    assert example["safeguarding"]["phrases"] == DEFAULT_PHRASES
    assert example["safeguarding"]["share_text_in_alerts"] is False
    assert example["safeguarding"]["resources"]
