"""What we heard: the people who answered a check-in hear what everyone said (/share, and with
the weekly digest), with the digest's small-number rules, once each, unless they said no."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxClient, SandboxUser
from bot.services import services_of
from bot.settings import Settings
from tests.conftest import EXAMPLE, join, running
from tests.spoken import Whose, give_words, voice_answer_ids

COORDINATOR = 7700
TITLE = "📣 What we heard: Weekly check-in"
RATHER_NOT = "I'd rather not say"


@pytest.fixture
def team_settings(make_settings: Any, tmp_path: Path) -> Settings:
    config = tmp_path / "project.toml"
    config.write_text(EXAMPLE.read_text())
    return make_settings(
        config, coordinators__user_ids=f"[{COORDINATOR}]", nudges__quiet_hours="null"
    )


async def answer_weekly(
    person: SandboxUser, week: str, listened: str | None, words: str | None = None
) -> None:
    """How was the week (a scale button), skip the services, staff listened (or skip), skip
    the next; then ``words`` for "anything else" (with leave to quote them), or skip."""
    await person.press(week)
    await person.expect("Which parts")
    await person.press(RATHER_NOT)
    await person.expect("Did staff listen")
    await person.press(listened or RATHER_NOT)
    await person.expect("change one thing")
    await person.press(RATHER_NOT)
    await person.expect("Anything else")
    if words is None:
        await person.press("Skip")
        await person.expect("Thank you")
        return
    await person.send(words)
    await person.expect("Thank you")
    await person.expect("May we quote your words")
    await person.press("Yes, you can")
    await person.expect("We may quote your words")


async def heard_by(person: SandboxUser) -> list[str]:
    return [m.text for m in await person.messages() if m.from_bot and TITLE in m.text]


async def test_share_tells_the_people_who_answered_what_everyone_said_hiding_small_groups(
    client: SandboxClient, team_settings: Settings
) -> None:
    async with running(team_settings):
        people = [await client.user(7701 + i) for i in range(6)]
        for person in people:
            await join(person)
        # Five answer: the week was 4, 4, 4, 5 and 3; staff listened: yes, yes, yes, no, no.
        for person, week, listened, words in zip(
            people,
            ["4", "4", "4", "5", "3"],
            ["Yes", "Yes", "Yes", "No", "No"],
            ["More hot meals at the weekend, call me on 07700 900123", None, None, None, None],
            strict=False,
        ):
            await answer_weekly(person, week, listened, words)
        # The sixth joined and answered nothing. The second says no to what we heard.
        await people[1].send("/settings")
        await people[1].expect("Summaries of what everyone said: yes")
        await people[1].press("What everyone said")
        await people[1].expect("shall I send you a short summary")
        await people[1].press("No, thanks")
        await people[1].expect("Summaries of what everyone said: no")

        coordinator = await client.user(COORDINATOR, first_name="Jo")
        await coordinator.send("/share")
        await coordinator.expect("Send /share followed by one of: weekly, design-reflection")
        await coordinator.send("/share weekly")
        await coordinator.expect("to the 4 people who answered it")

        for person in (people[0], people[2], people[3], people[4]):
            message = await person.expect(TITLE)
            text = message.text
            assert "5 people answered" in text
            assert "How has your week been?" in text
            assert "▓▓▓▓▓▓░░░░ 60% 4" in text  # three of five
            assert "0% 1" in text and "0% 2" in text  # nobody: nothing to hide
            # One person each said 5 and 3: hidden, and so nothing adds up to them.
            assert "20%" not in text and text.count("fewer than 3 people") >= 2
            # Three said yes and two no: the two are hidden, so the three are too (or the two
            # could be worked out from the five).
            assert "Did staff listen to you this week?" in text
            assert "60%" not in text.split("Did staff listen")[1]
            assert "40%" not in text
            # The words of the one who agreed to be quoted, without the phone number.
            assert "In people's own words:\n“More hot meals at the weekend" in text
            assert "07700" not in text
            assert "turn these off in /settings" in text

        # Sent once each: asking again reaches nobody new.
        await coordinator.send("/share weekly")
        await coordinator.expect("has already had what we heard")
        for person in (people[0], people[2], people[3], people[4]):
            assert len(await heard_by(person)) == 1
        # Not to the one who said no, nor to the one who did not answer.
        assert await heard_by(people[1]) == [] and await heard_by(people[5]) == []


async def test_share_waits_while_fewer_than_the_minimum_answered(
    client: SandboxClient, team_settings: Settings
) -> None:
    async with running(team_settings):
        people = [await client.user(7801 + i) for i in range(2)]
        for person in people:
            await join(person)
            await answer_weekly(person, "4", "Yes")
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        await coordinator.send("/share weekly")
        await coordinator.expect("Not yet: fewer than 3 people answered the Weekly check-in")
        for person in people:
            assert await heard_by(person) == []


# ---------------------------------------------------------------------------------------------
# Voice notes: their words are quoted once they are the person's own.

SPOKEN_QUOTES: dict[Whose, str] = {
    "person": "The kitchen was lovely, ask Mrs Patel or call me on 07700 900123",
    "fix": "I finally slept somewhere warm",
    "machine": "the computer heard only this",
    "coordinator": "a coordinator wrote this down",
    "audio only": "words kept as audio only",
}


async def answer_weekly_by_voice(person: SandboxUser, voice: bytes) -> None:
    """The weekly check-in with a voice note for "anything else", and leave to quote them."""
    await person.press("4")
    await person.expect("Which parts")
    await person.press(RATHER_NOT)
    await person.expect("Did staff listen")
    await person.press("Yes")
    await person.expect("change one thing")
    await person.press(RATHER_NOT)
    await person.expect("Anything else")
    await person.send_voice(voice, duration=9)
    await person.expect("Thank you")
    await person.expect("May we quote your words")
    await person.press("Yes, you can")
    await person.expect("We may quote your words")


async def test_a_voice_notes_words_are_quoted_once_the_person_confirmed_them(
    client: SandboxClient, team_settings: Settings
) -> None:
    async with running(team_settings) as app:
        db, now = services_of(app).db, services_of(app).clock.now()
        people = [await client.user(7801 + i) for i in range(len(SPOKEN_QUOTES) + 1)]
        for person in people:
            await join(person)
        for n, (person, whose) in enumerate(zip(people, SPOKEN_QUOTES, strict=False)):
            await answer_weekly_by_voice(person, b"OggS\x00voice-note-%d" % n)
            [(answer_id, person_id)] = voice_answer_ids(team_settings, person.user_id)
            await give_words(db, answer_id, person_id, SPOKEN_QUOTES[whose], whose, now)
        await answer_weekly(people[-1], "4", "Yes", "More hot meals at the weekend")

        coordinator = await client.user(COORDINATOR, first_name="Jo")
        await coordinator.send("/digest")
        await coordinator.expect("📊 Weekly digest")
        html = b""
        while not html:
            message = await coordinator.wait_for_bot_message()
            if message.document and message.document["file_name"].endswith(".html"):
                html = await client.download(message.document["file_id"])
        digest = html.decode()
        await coordinator.send("/share weekly")
        await coordinator.expect(f"to the {len(people)} people who answered it")
        heard = (await people[0].expect(TITLE)).text

    quoted = heard.split("In people's own words:\n")[1]
    # The person's confirmed words and their typed fix, redacted as typed words are; and the
    # typed answer.
    assert "“The kitchen was lovely, ask Mrs [name] or call me on [phone]”" in quoted
    assert "“I finally slept somewhere warm”" in quoted
    assert "“More hot meals at the weekend”" in quoted
    assert "The kitchen was lovely, ask Mrs [name] or call me on [phone]" in digest
    assert "I finally slept somewhere warm" in digest and "More hot meals" in digest
    # Never as their words: what the computer alone heard, what a coordinator wrote down, the
    # mishearing they fixed, words they chose not to keep.
    for text in (heard, digest):
        for never in ("computer heard", "coordinator wrote", "misheard", "audio only", "07700"):
            assert never not in text, never
