"""What participants read: words rather than ids, a privacy notice, numbering, hints, dead ends.

Through the sandbox (what the person sees on their phone), with the helpers that make the words
tested on their own below.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import outreach
from bot.clock import FakeClock
from bot.handlers.account import voice_parts
from bot.sandbox import SandboxClient, SandboxUser
from bot.services import services_of
from bot.settings import ProjectSettings, Settings
from bot.texts import period_words, place_of, short_question
from storage.participants import PERSONAL_TABLES
from tests.conftest import EXAMPLE, join, privacy_notice, rows, running, tap
from tests.spoken import Whose, give_words, voice_answer_ids

VOICE = b"OggS\x00twelve-seconds-of-a-voice-note"
WORRYING = "Honestly some days I want to end it all"
PICK_ONE = "Tap at least one option, then “Done ✔”. Or tap “I'd rather not say”."


# ---------------------------------------------------------------------------------------------
# The words themselves.


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (730, "2 years"),
        (365, "1 year"),
        (1095, "3 years"),
        (180, "6 months"),
        (210, "7 months"),
        (90, "90 days"),  # under six months, days: "3 months" could be 89 days
        (120, "120 days"),
        (30, "30 days"),
        (1, "1 day"),
        (731, "731 days"),
        (400, "400 days"),
    ],
)
def test_periods_read_as_words_and_never_say_less_than_is_kept(days: int, words: str) -> None:
    assert period_words(days) == words


def test_periods_in_another_language_and_an_unknown_one() -> None:
    assert period_words(730, "de") == "2 Jahre"
    assert period_words(730, "xx") == "2 years"


@pytest.mark.parametrize(
    ("zone", "place"),
    [
        ("Europe/London", "London"),
        ("Europe/Dublin", "Dublin"),
        ("Europe/Paris", "Paris"),
        ("UTC", "UTC"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires"),
    ],
)
def test_time_zones_read_as_places(zone: str, place: str) -> None:
    assert place_of(zone) == place


def test_long_questions_are_shortened_to_their_question() -> None:
    assert short_question("How has your week been?") == "How has your week been?"
    assert (
        short_question(
            "Sorry it has been a hard week. What made it hard? You can type or send a voice note."
        )
        == "What made it hard?"
    )
    assert (
        short_question("Which parts of the service did you use this week? Tap all, then Done.")
        == "Which parts of the service did you use this week?"
    )
    long_one = "Tell us " + "about the things that happened " * 4 + "today."
    shortened = short_question(long_one)
    assert len(shortened) <= 60 and shortened.endswith("…") and " " in shortened
    assert short_question("x" * 80) == "x" * 59 + "…"


@pytest.mark.parametrize(
    ("name", "short", "shown"),
    [
        ("Riverside Pathways: housing and recovery service redesign", None, "Riverside Pathways"),
        ("Riverside Pathways - housing redesign", None, "Riverside Pathways"),
        ("Riverside Pathways", None, "Riverside Pathways"),
        ("Well-being café", None, "Well-being café"),
        (": odd", None, ": odd"),
        ("Riverside Pathways: redesign", "Pathways", "Pathways"),
    ],
)
def test_the_welcome_uses_a_short_name(name: str, short: str | None, shown: str) -> None:
    assert ProjectSettings(name=name, short_name=short).display_name == shown


# ---------------------------------------------------------------------------------------------
# Through the bot.


def write_config(tmp_path: Path, **replace: str) -> Path:
    """The example config with some text replaced, as a coordinator would edit it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "edited.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_the_welcome_and_the_consent_read_naturally(
    client: SandboxClient, make_settings: Any, tmp_path: Path
) -> None:
    async with running(make_settings()):
        user = await client.user(7001)
        await user.send("/start")
        welcome = await user.expect("Is that OK with you?")
        assert welcome.text.startswith("Hi, this is the Riverside Pathways bot. 👋")
        assert "housing and recovery service redesign" not in welcome.text
        assert "We keep your answers for 2 years, then delete them." in welcome.text

    # Older configs say {retention_days} days: still filled in. A short name can be set.
    legacy = write_config(
        tmp_path,
        **{
            "{retention}": "{retention_days} days",
            '# short_name = "Riverside Pathways"': 'short_name = "Riverside"',
        },
    )
    async with running(make_settings(legacy, storage__retention_days="90")):
        other = await client.user(7002)
        await other.send("/start")
        welcome = await other.expect("Is that OK with you?")
        assert welcome.text.startswith("Hi, this is the Riverside bot.")
        assert "We keep your answers for 90 days, then delete them." in welcome.text


async def test_question_numbers_count_what_this_person_is_asked(
    bot: Any, client: SandboxClient
) -> None:
    good_week = await client.user(7010)
    await join(good_week)
    first = await good_week.last_bot_message()
    # "What made it hard?" comes only after a hard week: not known yet, so "up to".
    assert "Question 1 of up to 6\n" in first.text
    await good_week.press("4")
    second = await good_week.expect("Which parts of the service")
    assert "Question 2 of 5\n" in second.text  # not "Question 3 of 6"
    await tap(good_week, "☐ Meals")
    await good_week.press("Done ✔")
    assert "Question 3 of 5\n" in (await good_week.expect("Did staff listen")).text

    hard_week = await client.user(7011)
    await join(hard_week)
    await hard_week.press("1")
    assert "Question 2 of 6\n" in (await hard_week.expect("What made it hard?")).text
    await hard_week.send("the hostel closed")
    assert "Question 3 of 6\n" in (await hard_week.expect("Which parts of the service")).text


async def test_done_stays_usable_after_the_hint_and_the_hint_names_the_real_buttons(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(7020)
    await join(user)
    await user.press("4")
    question = await user.expect("Which parts of the service")

    for _ in range(2):  # pressed twice with nothing ticked: the same kind answer each time
        query = await user.press("Done ✔")
        assert (await user.wait_callback_answer(query))["text"] == PICK_ONE
    shown = next(m for m in await user.messages() if m.message_id == question.message_id)
    assert shown.text.startswith(PICK_ONE)  # stays on the question, not a passing toast
    assert "Which parts of the service" in shown.text
    assert "I'd rather not say" in shown.button_texts()  # the button the hint names
    assert shown.button_texts()[-2:] == ["Done ✔", "I'd rather not say"]

    await tap(user, "☐ Showers")
    await user.press("Done ✔", message_id=question.message_id)
    await user.expect("Did staff listen")
    assert rows(settings, "SELECT value FROM answers WHERE question_id = 'used'") == [
        ('["Showers"]',)
    ]


async def test_typing_an_option_ticks_it_and_shows_the_question_again(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(7021)
    await join(user)
    await user.press("4")
    before = await user.expect("Which parts of the service")
    await user.send("meals")  # typed, not tapped
    again = await user.expect("Which parts of the service")
    assert "☑ Meals" in again.button_texts() and again.message_id != before.message_id
    old = await user.wait_for_bot_message()
    assert old.message_id == before.message_id
    assert old.buttons == []  # one live keyboard: the one that shows the tick
    assert not [m for m in await user.messages() if "went wrong" in (m.text or "")]
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    assert rows(settings, "SELECT value FROM answers WHERE question_id = 'used'") == [
        ('["Meals"]',)
    ]


async def test_after_support_the_text_says_what_really_comes_next(
    bot: Any, client: SandboxClient
) -> None:
    # An answer to a text question: saved, and the next question comes.
    typed = await client.user(7030)
    await join(typed)
    await typed.press("1")
    await typed.expect("What made it hard?")
    await typed.send(WORRYING)
    support = await typed.expect("You don't have to go through it alone")
    assert "Your answer is saved. The next question is below" in support.text
    assert "/pause" in support.text and "stop here" not in support.text
    await typed.expect("Which parts of the service")

    # Words where a button is wanted: not an answer, so the same question comes again.
    pressed = await client.user(7031)
    await join(pressed)
    await pressed.send("I want to die")
    support = await pressed.expect("You don't have to go through it alone")
    assert "The question you were on is below" in support.text
    assert "Your answer is saved" not in support.text
    again = await pressed.expect("How has your week been?")
    assert "5" in again.button_texts()

    # The last answer: saved, and the check-in ends with its thank-you.
    last = await client.user(7032)
    await join(last)
    await last.press("4")
    await last.expect("Which parts")
    await last.press("I'd rather not say")
    await last.expect("Did staff listen")
    await last.press("Yes")
    await last.expect("change one thing")
    await last.press("Opening hours")
    await last.expect("Anything else")
    await last.send(WORRYING)
    support = await last.expect("You don't have to go through it alone")
    assert support.text.endswith("Your answer is saved.")
    await last.expect("Your answers go to the team")

    # An edited message is not an answer: the way back that always works.
    edited = await client.user(7033)
    start = await edited.send("/start")
    await edited.expect("Is that OK with you?")
    await edited.press("✅ Yes, I agree")
    await edited.expect("How has your week been?")
    await edited.edit(start.message_id, WORRYING)
    support = await edited.expect("You don't have to go through it alone")
    assert "send /checkin to carry on with the questions" in support.text
    await edited.expect("I can only read new messages")
    await edited.send("/checkin")
    await edited.expect("How has your week been?")


async def test_resume_offers_the_open_check_in(bot: Any, client: SandboxClient) -> None:
    user = await client.user(7040)
    await join(user)
    await user.press("4")
    await user.expect("Which parts of the service")
    await user.send("/pause")
    await user.expect("I've paused")
    await user.send("/resume")
    back = await user.expect("Great, you're back. Let's carry on where you left off.")
    assert "Which parts of the service" in back.text and "Done ✔" in back.button_texts()
    await user.send("/resume")
    again = await user.expect("You're not paused. Here's the question you're on:")
    assert "Which parts of the service" in again.text
    await user.press("I'd rather not say")
    await user.expect("Did staff listen")

    nothing_open = await client.user(7041)
    await join(nothing_open)
    for next_question in ("Which parts", "Did staff listen", "change one thing", "Anything else"):
        await nothing_open.press("I'd rather not say")
        await nothing_open.expect(next_question)
    await nothing_open.press("Skip")
    await nothing_open.expect("Your answers go to the team")
    await nothing_open.send("/pause")
    await nothing_open.expect("I've paused")
    await nothing_open.send("/resume")
    await nothing_open.expect("Great, you're back. Send /checkin to answer the check-in.")


async def test_privacy_is_a_notice_with_the_projects_contact(
    client: SandboxClient, make_settings: Any
) -> None:
    async with running(make_settings()):
        user = await client.user(7050)
        await user.send("/privacy")
        text, messages = await privacy_notice(user)
        assert all(m.buttons == [] for m in messages) and "Is that OK with you?" not in text
        assert len(messages) > 1 and all(len(m.text) <= 500 for m in messages)  # a screen each
        assert "Riverside Pathways runs this bot" in text
        for part in ("What we keep", "Who sees it", "How long", "Your rights"):
            assert f"\n\n{part}\n" in text, part
        assert "never keep your name or your phone number" in text
        assert "We keep your answers for 2 years, then delete them." in text
        assert "/mydata" in text and "/delete" in text and "/stop" in text
        assert "Ask about your data, or complain: contact the project team." in text
        assert "your code name (not your words)" in text
        assert len(text) < 2000  # a few screens on a phone, at most

    custom = make_settings(
        privacy__organisation="Riverside Housing Trust",
        privacy__contact="Sam Okafor, data@riverside.example",
        safeguarding__share_text_in_alerts="true",
        storage__retention_days="180",
    )
    async with running(custom):
        other = await client.user(7051)
        await other.send("/privacy")
        notice, messages = await privacy_notice(other)
        assert "Riverside Housing Trust runs this bot" in notice
        assert "complain: contact Sam Okafor, data@riverside.example." in notice
        assert "your code name and what you wrote" in notice
        assert "We keep your answers for 6 months" in notice
        assert all(len(m.text) <= 500 for m in messages)


async def test_settings_show_places_not_zone_names(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(7060)
    await join(user)
    await user.send("/settings")
    summary = await user.expect("Your settings")
    assert "Time zone: London" in summary.text and "Europe/" not in summary.text
    await tap(user, "Time zone")
    zones = await user.last_bot_message()
    assert zones.button_texts() == ["London", "Dublin", "Lisbon", "Warsaw", "UTC"]
    await tap(user, "Dublin")
    changed = await user.last_bot_message()
    assert "Time zone: Dublin" in changed.text
    assert rows(settings, "SELECT timezone FROM participants") == [("Europe/Dublin",)]


async def answer_the_weekly_check_in_with_a_voice_note(user: SandboxUser) -> None:
    await join(user)
    await user.press("1")
    await user.expect("What made it hard?")
    await user.send_voice(VOICE, duration=12)
    await user.expect("Which parts of the service")
    await tap(user, "☐ Meals")
    await tap(user, "☐ Showers")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing")
    await user.press("Somewhere safe to sleep")
    await user.expect("Anything else")
    await user.send("More evening sessions please")
    await user.expect("Your answers go to the team")


async def documents(user: SandboxUser, client: SandboxClient, count: int) -> list[Any]:
    found = []
    while len(found) < count:
        message = await user.wait_for_bot_message()
        if message.document:
            found.append(message)
    return found


async def test_mydata_in_words_with_every_recording(
    client: SandboxClient, make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings()
    user = await client.user(7070)
    async with running(settings):
        await answer_the_weekly_check_in_with_a_voice_note(user)
        assert rows(settings, "SELECT voice_seconds FROM answers WHERE file_path IS NOT NULL") == [
            (12,)
        ]
        await user.send("/mydata")
        summary = await user.expect("Here's what we keep about you")
        text = summary.text
        assert "• We keep each answer for 2 years, then delete it." in text
        assert "• What made it hard?\n   voice note (12 s)" in text
        assert "• Which parts of the service did you use this week?\n   Meals, Showers" in text
        assert "• Did staff listen to you this week?\n   Yes" in text
        assert "• Anything else you want the team to hear?\n   More evening sessions" in text
        for id_like in ("hard-part", "used:", "listened", "🎤"):
            assert id_like not in text, id_like

        data_doc, voice_doc = await documents(user, client, 2)
        assert data_doc.document["file_name"] == "everystage-my-data.json"
        data = json.loads(await client.download(data_doc.document["file_id"]))
        hard = data["answers"][1]
        assert hard["question"].startswith("Sorry it has been a hard week.")
        [(stored,)] = rows(settings, "SELECT file_path FROM answers WHERE file_path IS NOT NULL")
        name = f"01-hard-part-{hard['answered_at'][:10]}{Path(stored).suffix}"
        assert hard["voice_note"] == {
            "file": name,
            "in": "everystage-my-voice-notes.zip",
            "seconds": 12,
        }
        assert "everystage-my-voice-notes.zip" in data["about_voice_notes"]
        assert voice_doc.document["file_name"] == "everystage-my-voice-notes.zip"
        with zipfile.ZipFile(io.BytesIO(await client.download(voice_doc.document["file_id"]))) as z:
            assert z.namelist() == [name] and z.read(name) == VOICE

    # A question the config no longer has is shown by its id.
    renamed = write_config(tmp_path, **{'id = "listened"': 'id = "heard"'})
    async with running(make_settings(renamed)):
        await user.send("/mydata")
        summary = await user.expect("Here's what we keep about you")
        assert "• listened\n   Yes" in summary.text


async def test_the_mydata_file_holds_every_row_of_every_table_about_the_person(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(nudges__check_every_seconds="3600")
    clock = FakeClock(datetime(2026, 11, 16, 10, 30, tzinfo=UTC))  # a Monday, 10:30 in London
    user = await client.user(7080)
    async with running(settings, clock=clock) as app:
        await answer_the_weekly_check_in_with_a_voice_note(user)
        await user.expect("May we quote your words")
        await user.press("Yes, you can")
        await user.expect("We may quote your words")
        clock.advance(timedelta(days=7))  # next Monday: the weekly nudge
        await outreach.tick(app)
        await user.expect("Time for the Weekly check-in")
        await user.send("/mydata")
        await user.expect("Here's what we keep about you")
        [data_doc, _] = await documents(user, client, 2)
        data = json.loads(await client.download(data_doc.document["file_id"]))

    if settings.storage.is_postgres:
        columns = rows(
            settings,
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema()",
        )
    else:
        columns = rows(
            settings,
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c"
            " WHERE m.type = 'table'",
        )
    about_people = {table for table, column in columns if column == "participant_id"}
    assert about_people | {"participants"} == set(PERSONAL_TABLES)
    [(person_id,)] = rows(settings, "SELECT id FROM participants")
    for table, key in PERSONAL_TABLES.items():
        column = "id" if table == "participants" else "participant_id"
        [(stored,)] = rows(
            settings, f"SELECT count(*) FROM {table} WHERE {column} = ?", (person_id,)
        )
        section = data[key]
        shown = len(section) if isinstance(section, list) else int(section is not None)
        assert shown == stored, table
    for key in ("answers", "completed_checkins", "nudges", "messages_to_you", "delivery_attempts"):
        assert data[key], key
    assert data["may_quote_my_words"] is True and data["quote_consent"]["may_quote"] == 1
    assert data["you"]["timezone"] is None and data["you"]["frequency"] == "weekly"
    assert "id" not in data["you"] and "participant_id" not in json.dumps(data)
    assert any(n["checkin_id"] == "weekly" and n["sent_at"] for n in data["nudges"])
    assert any("Your answers go to the team" in m["text"] for m in data["messages_to_you"])


def test_voice_notes_are_split_into_zips_that_each_fit_telegrams_upload_limit(
    tmp_path: Path,
) -> None:
    for name in ("a.ogg", "b.ogg", "c.oga"):
        (tmp_path / name).write_bytes(name.encode() * 200)  # 1,000 bytes each
    answers = [
        {"question_id": q, "voice_note": f, "voice_seconds": s, "answered_at": "2026-11-02T10:00"}
        for q, f, s in [("q1", "a.ogg", 3), ("q2", "gone.ogg", None), ("q3", "b.ogg", 70)]
    ]
    answers += [{"question_id": "q4", "voice_note": None, "answered_at": "2026-11-03"}]
    answers += [
        {
            "question_id": "q5",
            "voice_note": "c.oga",
            "voice_seconds": 9,
            "answered_at": "2026-11-04",
        }
    ]
    parts = voice_parts(tmp_path, answers, limit=2_000)
    assert [p.filename for p in parts] == [
        "everystage-my-voice-notes-1-of-2.zip",
        "everystage-my-voice-notes-2-of-2.zip",
    ]
    assert [a["voice_note"] for a in answers] == [
        {"file": "01-q1-2026-11-02.ogg", "in": parts[0].filename, "seconds": 3},
        {"file": None, "in": None, "seconds": None},  # no longer on disk: said so
        {"file": "03-q3-2026-11-02.ogg", "in": parts[0].filename, "seconds": 70},
        None,
        {"file": "04-q5-2026-11-04.oga", "in": parts[1].filename, "seconds": 9},
    ]
    with zipfile.ZipFile(io.BytesIO(parts[0].build())) as first:
        assert first.namelist() == ["01-q1-2026-11-02.ogg", "03-q3-2026-11-02.ogg"]
        assert first.read("03-q3-2026-11-02.ogg") == (tmp_path / "b.ogg").read_bytes()
    assert voice_parts(tmp_path, [answers[3]]) == []  # no voice notes: no zip at all


async def test_mydata_shows_a_voice_notes_words_and_whose_they_are(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings()
    said: dict[Whose, tuple[str, str]] = {
        "person": ("It was the cold, mostly", "— as you confirmed"),
        "coordinator": ("The cold and no blankets", "— written down by a coordinator"),
        "machine": ("it was the coal mostly", "— heard by the computer, not yet checked"),
    }
    async with running(settings) as app:
        db, now = services_of(app).db, services_of(app).clock.now()
        for n, (whose, (words, by)) in enumerate(said.items()):
            user = await client.user(7090 + n)
            await answer_the_weekly_check_in_with_a_voice_note(user)
            [(answer_id, person_id)] = voice_answer_ids(settings, user.user_id)
            await give_words(db, answer_id, person_id, words, whose, now)
            await user.send("/mydata")
            summary = (await user.expect("Here's what we keep about you")).text
            assert f"• What made it hard?\n   voice note (12 s): “{words}” {by}" in summary
            data_doc, _ = await documents(user, client, 2)
            data = json.loads(await client.download(data_doc.document["file_id"]))
            hard = data["answers"][1]
            assert (hard["transcript"], hard["transcript_by"]) == (words, whose)

        # Kept as audio only: the words are gone from the summary and the file alike.
        user = await client.user(7099)
        await answer_the_weekly_check_in_with_a_voice_note(user)
        [(answer_id, person_id)] = voice_answer_ids(settings, user.user_id)
        await give_words(db, answer_id, person_id, "not to be kept", "audio only", now)
        await user.send("/mydata")
        summary = (await user.expect("Here's what we keep about you")).text
        assert "• What made it hard?\n   voice note (12 s)\n" in summary
        data_doc, _ = await documents(user, client, 2)
        raw = await client.download(data_doc.document["file_id"])
        assert b"not to be kept" not in raw
        assert json.loads(raw)["answers"][1]["transcript"] is None
