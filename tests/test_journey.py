"""The participant journey end to end: a phone talking to the real bot through the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import FakeClock
from bot.sandbox import SandboxClient
from bot.sandbox.errors import bad_request
from bot.settings import Settings
from tests.conftest import (
    join,
    privacy_notice,
    raw_database_bytes,
    reaches_disk,
    rows,
    running,
    tap,
)

VOICE = b"OggS\x00fake-voice-note-bytes-for-the-test"


async def test_declining_consent_keeps_nothing(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4001, first_name="Dana")
    await user.send("/start")
    welcome = await user.expect("Is that OK with you?")
    assert welcome.button_texts() == ["✅ Yes, I agree", "No thanks", "Tell me more"]
    assert "Hi, this is the Riverside Pathways bot" in (welcome.text or "")
    assert "We keep your answers for 2 years" in (welcome.text or "")  # not "730 days"

    await user.send("my cousin Jolene-77 knows about it")
    await user.expect("send /start first")
    await user.press("Tell me more")
    await user.expect("We never share your answers")
    await user.press("No thanks")
    declined = await user.expect("We have not kept anything")
    assert declined.buttons == []

    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]
    assert b"Jolene-77" not in raw_database_bytes(settings)

    await user.send("/start")  # a later /start asks again
    await user.expect("Is that OK with you?")


async def test_a_full_check_in_with_every_kind_a_branch_a_skip_and_a_voice_note(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4002)
    await join(user)
    scale = await user.last_bot_message()
    assert scale.button_texts() == ["1", "2", "3", "4", "5", "I'd rather not say"]
    assert "1 = Very hard" in scale.text

    await user.press("2")
    await user.expect("What made it hard?")  # the branch, because 2 <= 2
    edited = next(m for m in await user.messages() if m.message_id == scale.message_id)
    assert edited.text.endswith("✔ 2") and edited.buttons == []

    await user.send_voice(VOICE, duration=3)
    await user.expect("Which parts of the service")
    await tap(user, "☐ Meals")
    await tap(user, "☐ Showers")
    await tap(user, "☐ Drop-in")
    await tap(user, "☑ Meals")  # untick
    ticked = await user.last_bot_message()
    assert "☑ Showers" in ticked.button_texts() and "☐ Meals" in ticked.button_texts()
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing first")
    await user.press("I'd rather not say")
    await user.expect("Anything else")
    await user.send("Mehr Personal, bitte 🙏 ومزيد من الموظفين")
    await user.expect("Your answers go to the team")

    answers = rows(
        settings,
        "SELECT question_id, kind, value, file_path, stage FROM answers ORDER BY id",
    )
    assert [(q, k, v and json.loads(v), s) for q, k, v, _, s in answers] == [
        ("week", "scale", 2, "design"),
        ("hard-part", "text", answers[1][3], "design"),
        ("used", "multi", ["Drop-in", "Showers"], "design"),
        ("listened", "yesno", "yes", "design"),
        ("change", "choice", None, "design"),
        ("anything-else", "text", "Mehr Personal, bitte 🙏 ومزيد من الموظفين", "design"),
    ]
    voice_file = settings.storage.files_path / answers[1][3]
    assert voice_file.read_bytes() == VOICE
    assert rows(settings, "SELECT checkin_id FROM completions") == [("weekly",)]
    assert rows(settings, "SELECT count(*) FROM sessions") == [(0,)]


async def test_a_half_done_check_in_resumes_after_a_restart(
    client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4003)
    async with running(settings):
        await join(user)
        await user.press("4")
        await user.expect("Which parts of the service")
        await tap(user, "☐ Meals")
        old_question = await user.last_bot_message()

    async with running(settings):
        await user.send("/checkin")
        resumed = await user.expect("Let's carry on where you left off")
        assert "Which parts of the service" in resumed.text
        assert "☑ Meals" in resumed.button_texts()  # the tick survived the restart

        # An old keyboard says so, and shows the question the person is on now.
        query = await user.press("Done ✔", message_id=old_question.message_id)
        answer = await user.wait_callback_answer(query)
        assert answer["text"] == "That question has already been answered. 👍"
        again = await user.expect("Here's the question you're on now")
        assert "Which parts of the service" in again.text and "☑ Meals" in again.button_texts()

        await user.press("Done ✔", message_id=again.message_id)
        await user.expect("Did staff listen")

    assert [r[0] for r in rows(settings, "SELECT question_id FROM answers ORDER BY id")] == [
        "week",
        "used",
    ]


async def test_mydata_shows_a_summary_and_a_json_file(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4004)
    await user.send("/mydata")
    await user.expect("We don't keep anything about you")

    await join(user)
    await user.press("5")
    await user.expect("Which parts")
    await user.send("/mydata")
    summary = await user.expect("Here's what we keep about you")
    [(pseudonym,)] = rows(settings, "SELECT pseudonym FROM participants")
    assert (
        pseudonym in summary.text
        and "• How has your week been?\n   5 (Really good)" in summary.text
    )

    document = await user.wait_for_bot_message()
    assert document.document["file_name"] == "everystage-my-data.json"
    data = json.loads(await client.download(document.document["file_id"]))
    assert data["you"]["pseudonym"] == pseudonym
    assert data["answers"][0]["question_id"] == "week" and data["answers"][0]["answer"] == 5
    assert data["checkin_in_progress"]["checkin_id"] == "weekly"
    assert data["may_quote_my_words"] is None  # not asked yet


async def test_delete_erases_every_byte_and_file(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    other = await client.user(4099)
    await join(other)
    await other.press("3")
    await other.expect("Which parts")

    user = await client.user(4005)
    await join(user)
    await user.press("1")
    await user.expect("What made it hard?")
    await user.send("Quokka-unique-words-5521 about my landlord")
    await user.expect("Which parts")
    await tap(user, "☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("No")
    await user.expect("change one thing")
    await user.press("Opening hours")
    await user.expect("Anything else")
    await user.send_voice(b"OggS-Marmoset-voice-9931")
    await user.expect("Thank you")
    [(voice_name,)] = rows(settings, "SELECT file_path FROM answers WHERE file_path IS NOT NULL")
    assert reaches_disk(settings, b"Quokka-unique-words-5521")

    await user.send("/delete")
    await user.expect("Are you sure?")
    await user.press("Yes, delete it all")
    await user.expect("Everything about you has been deleted")

    blob = raw_database_bytes(settings)
    assert b"Quokka-unique-words-5521" not in blob
    assert voice_name.encode() not in blob
    assert not (settings.storage.files_path / voice_name).exists()
    assert rows(settings, "SELECT count(*) FROM participants") == [(1,)]  # the other person

    await user.send("/mydata")
    await user.expect("We don't keep anything about you")


async def test_delete_can_be_cancelled(bot: Any, client: SandboxClient, settings: Settings) -> None:
    user = await client.user(4006)
    await join(user)
    await user.send("/delete")
    await user.expect("Are you sure?")
    await user.press("No, keep it")
    await user.expect("nothing was deleted")
    assert rows(settings, "SELECT count(*) FROM participants") == [(1,)]


async def test_groups_get_a_note_and_nothing_is_stored(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    await client.user(4007)
    group = await client.group(-100777, "Drop-in regulars", added_by=4007)
    await group.send(4007, "/start")
    await group.expect("talk to me in a private chat")
    await group.send(4007, "Pangolin-group-chatter")
    await group.send(4007, "/mydata")
    await group.expect("talk to me in a private chat")
    messages = [m for m in await group.messages() if m.from_bot]
    assert len(messages) == 2  # plain chatter gets no reply
    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]
    assert b"Pangolin-group-chatter" not in raw_database_bytes(settings)


async def test_bad_input_gets_kind_hints_and_nothing_breaks(
    bot: Any, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4008)
    await user.send_sticker()
    await user.expect("send /start first")
    await join(user)

    await user.send_sticker()
    hint = await user.expect("Please tap one of the buttons")
    assert "How has your week been?" in hint.text and "5" in hint.button_texts()
    await user.send_photo(caption="my week")
    await user.expect("Please tap one of the buttons")
    await user.send("pretty good")
    await user.expect("Please tap one of the buttons")
    await user.send_voice(b"OggS-not-now")
    await user.expect("Please tap one of the buttons")
    await user.send("/frobnicate")
    await user.expect("I don't know that command")

    sent = await user.send("4")  # typing a button label works too
    await user.expect("Which parts of the service")
    await user.edit(sent.message_id, "5")
    await user.expect("I can only read new messages")

    first = await user.press("☐ Meals")
    await user.wait_callback_answer(first)
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    yes_message = await user.last_bot_message()
    first_tap = await user.press("Yes", message_id=yes_message.message_id)
    second_tap = await client.call(
        "POST",
        f"/chats/{user.chat_id}/messages/{yes_message.message_id}/press",
        {"callback_data": yes_message.buttons[0][0].callback_data},
    )
    assert (await user.wait_callback_answer(first_tap))["answered"]
    second = await user.wait_callback_answer(second_tap["id"])
    assert second["answered"] and "already been answered" in second["text"]
    await user.expect("change one thing")
    # The repeat shows the question again under a new step (older copies go stale): wait for
    # it before pressing, or the press may land on the copy it replaces.
    await user.expect("Here's the question you're on now")
    await user.press("Waiting times")
    await user.expect("Anything else")

    long_text = "ا" * 3000 + "🙂" * 1096 + "end"
    await user.send(long_text)
    await user.expect("Thank you")

    assert rows(settings, "SELECT count(*) FROM answers WHERE question_id = 'listened'") == [(1,)]
    [(stored,)] = rows(settings, "SELECT value FROM answers WHERE question_id = 'anything-else'")
    assert json.loads(stored) == long_text
    assert rows(settings, "SELECT count(*) FROM answers") == [(5,)]


async def test_pause_resume_and_stop(bot: Any, client: SandboxClient, settings: Settings) -> None:
    user = await client.user(4009)
    await join(user)
    await user.send("/pause")
    await user.expect("I've paused")
    assert rows(settings, "SELECT status FROM participants") == [("paused",)]
    await user.send("/resume")
    await user.expect("you're back")
    await user.send("/stop")
    await user.expect("you've stopped taking part")
    await user.sync()
    await user.send("3")
    await user.send("/checkin")
    await user.send("/help")
    await user.expect("Here's what I can do")  # help still answers; the rest is ignored
    assert rows(settings, "SELECT count(*) FROM answers") == [(0,)]
    await user.send("/start")
    await user.expect("You're taking part again")
    assert rows(settings, "SELECT status FROM participants") == [("active",)]


async def test_a_new_consent_version_asks_again_before_the_next_check_in(
    client: SandboxClient, make_settings: Any
) -> None:
    user = await client.user(4010)
    first = make_settings()
    async with running(first):
        await join(user)
    second = make_settings(consent__version="2")
    async with running(second):
        await user.send("/checkin")
        await user.expect("We've changed what we say about your answers")
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
    assert rows(second, "SELECT consent_version FROM participants") == [(2,)]


async def test_help_privacy_and_the_command_list(
    bot: Any, client: SandboxClient, sandbox: Any
) -> None:
    user = await client.user(4011)
    await user.send("/privacy")
    privacy, _ = await privacy_notice(user)
    assert "We keep your answers for 2 years" in privacy and "/delete" in privacy
    [commands] = [
        r
        for r in sandbox.requests
        if r["method"] == "setMyCommands" and "scope" not in r["params"]  # the default list
    ]
    names = [c["command"] for c in json.loads(commands["params"]["commands"])]
    assert names == [
        "checkin",
        "settings",
        "mydata",
        "pause",
        "resume",
        "stop",
        "delete",
        "support",
        "suggest",
        "help",
        "privacy",
    ]


async def test_a_refused_command_list_is_logged_not_fatal(
    sandbox: Any, client: SandboxClient, settings: Settings, caplog: Any
) -> None:
    async def refuse_commands(method: str, params: Any) -> None:
        if method == "setMyCommands":
            raise bad_request("BOT_COMMAND_INVALID")

    sandbox.hooks.append(refuse_commands)
    async with running(settings):
        user = await client.user(4012)
        await join(user)
    assert "could not register the command list" in caplog.text


async def test_answers_past_retention_are_erased_at_start_up(
    client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(4013)
    async with running(settings):
        await join(user)
        await user.press("3")
        await user.expect("Which parts")
    assert rows(settings, "SELECT count(*) FROM answers") == [(1,)]

    later = FakeClock(datetime.now(UTC) + timedelta(days=settings.storage.retention_days + 1))
    async with running(settings, clock=later):
        pass
    assert rows(settings, "SELECT count(*) FROM answers") == [(0,)]
