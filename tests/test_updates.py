"""'You said, we did': an update reaches exactly the people who contributed, once each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.clock import FakeClock
from bot.sandbox import SandboxClient, SandboxUser
from bot.sandbox.client import SandboxGroup
from tests.conftest import join, rows, running, tap

COORDINATOR = 9001
HEADER = "📣 You said, we did"
# A Wednesday noon in London: outside quiet hours, and no scheduled check-in is due.
NOON = datetime(2026, 11, 4, 12, tzinfo=UTC)


async def updates_in(user: SandboxUser) -> list[str]:
    return [m.text for m in await user.messages() if m.from_bot and HEADER in (m.text or "")]


async def reply(client: SandboxClient, group: SandboxGroup, user_id: int, text: str) -> None:
    """In a group the bot sees only replies to it (privacy mode)."""
    last = await group.last_bot_message()
    assert last is not None
    await client.call(
        "POST",
        f"/chats/{group.chat_id}/messages",
        {"text": text, "user_id": user_id, "reply_to_message_id": last.message_id},
    )


async def contributors(client: SandboxClient) -> tuple[SandboxUser, ...]:
    """A answered 'week'; B skipped 'week' but answered 'used'; C nothing; D answered, paused."""
    a, b, c, d = [await client.user(uid) for uid in (5101, 5102, 5103, 5104)]
    for user in (a, b, c, d):
        await join(user)
    await a.press("4")
    await a.expect("Which parts")
    await b.press("I'd rather not say")
    await b.expect("Which parts")
    await tap(b, "☐ Meals")
    await b.press("Done ✔")
    await b.expect("Did staff listen")
    await d.press("3")
    await d.expect("Which parts")
    await d.send("/pause")
    await d.expect("I've paused")
    return a, b, c, d


async def test_an_update_reaches_exactly_the_contributors(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(coordinators__user_ids=f"[{COORDINATOR}]")
    async with running(settings, clock=FakeClock(NOON)):
        a, b, c, d = await contributors(client)
        coordinator = await client.user(COORDINATOR)

        await coordinator.send("/update")
        await coordinator.expect("Send what changed, in one or more messages. Then tap Done.")
        await coordinator.send("The drop-in now opens at 9am.")
        await coordinator.expect("Added (1 so far)")
        await coordinator.send("We hired a second cook.")
        await coordinator.expect("Added (2 so far)")
        await coordinator.press("Done")
        choices = await coordinator.expect("What is this update about?")
        assert choices.button_texts() == [
            "Weekly check-in",
            "Design reflection",
            "Quick pulse",
            "A theme",
            "Cancel",
        ]
        await coordinator.press("Weekly check-in")
        await coordinator.expect("one question, or the whole check-in?")
        await coordinator.press("The whole check-in")
        preview = await coordinator.expect(
            "This goes to 2 people who answered the Weekly check-in. Send?"
        )
        assert "The drop-in now opens at 9am." in preview.text
        await coordinator.press("Send")
        await coordinator.expect("Sent to 2 of 3 contributors.")

        for user in (a, b):
            [text] = await updates_in(user)
            assert text == f"{HEADER}\n\nThe drop-in now opens at 9am.\n\nWe hired a second cook."
        assert await updates_in(c) == [] and await updates_in(d) == []

        # Linked to one question: B skipped it, so only A (D answered it but paused).
        await coordinator.send("/update")
        await coordinator.expect("Send what changed")
        await coordinator.send("Several of you said weeks were hard: a peer worker now visits.")
        await coordinator.expect("Added (1 so far)")
        await coordinator.press("Done")
        await coordinator.expect("What is this update about?")
        await coordinator.press("Weekly check-in")
        await coordinator.expect("one question, or the whole check-in?")
        await coordinator.press("How has your week been?")
        await coordinator.expect("This goes to 1 people who answered “How has your week been?”")
        await coordinator.press("Send")
        await coordinator.expect("Sent to 1 of 2 contributors.")

        assert len(await updates_in(a)) == 2 and len(await updates_in(b)) == 1
        assert await updates_in(c) == [] and await updates_in(d) == []
        said = [m.text for m in await coordinator.messages() if m.from_bot]
        assert not any("send /start first" in (t or "") for t in said)  # drafts stay drafts

    assert rows(
        settings,
        "SELECT author, checkin_id, question_id, theme, contributors, reached FROM updates"
        " ORDER BY id",
    ) == [
        (str(COORDINATOR), "weekly", None, None, 3, 2),
        (str(COORDINATOR), "weekly", "week", None, 2, 1),
    ]
    assert rows(settings, "SELECT count(*) FROM outbox WHERE message_key LIKE 'update:%'") == [(3,)]
    assert rows(settings, "SELECT count(*) FROM answers WHERE value LIKE '%opens at 9am%'") == [
        (0,)
    ]


async def test_a_theme_from_the_coordinators_chat_goes_to_this_stages_contributors(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(coordinators__chat_id="-100500")
    async with running(settings, clock=FakeClock(NOON)):
        a, b, c, d = await contributors(client)
        await client.user(9002, first_name="Kim")
        team = await client.group(-100500, "Co-production team", added_by=9002)
        await team.send(9002, "/update")
        opened = await team.expect("Send what changed")
        assert "reply to my messages" in opened.text
        await team.send(9002, "Not a reply: the bot cannot see this in a group.")
        await reply(client, team, 9002, "Food came up a lot: there is now a hot breakfast.")
        await team.expect("Added (1 so far)")
        await team.press(9002, "Done")
        await team.expect("What is this update about?")
        await team.press(9002, "A theme")
        await team.expect("Type the theme's name")
        await reply(client, team, 9002, "Food")
        await team.expect("This goes to 2 people who answered anything in the design stage")
        await team.press(9002, "Send")
        await team.expect("Sent to 2 of 3 contributors.")
        assert len(await updates_in(a)) == 1 and len(await updates_in(b)) == 1
        assert await updates_in(c) == [] and await updates_in(d) == []
    assert rows(settings, "SELECT theme, checkin_id, contributors, reached FROM updates") == [
        ("Food", None, 3, 2)
    ]


async def test_a_draft_can_be_cancelled_and_sends_nothing(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(coordinators__user_ids=f"[{COORDINATOR}]")
    async with running(settings, clock=FakeClock(NOON)):
        coordinator = await client.user(COORDINATOR)
        await coordinator.send("/update")
        await coordinator.expect("Send what changed")
        await coordinator.press("Done")  # nothing written yet: a hint, no step forward
        await coordinator.send("Draft words")
        await coordinator.expect("Added (1 so far)")
        await coordinator.press("Cancel")
        await coordinator.expect("nothing was sent")
        await coordinator.send("just chatting")  # no draft: handled as usual
        await coordinator.expect("send /start first")
    assert rows(settings, "SELECT count(*) FROM updates") == [(0,)]


async def test_a_participants_update_is_refused(
    bot: Any, client: SandboxClient, settings: Any
) -> None:
    user = await client.user(5105)
    await join(user)
    await user.send("/update")
    await user.expect("Sorry, that's only for the project team.")
    await user.press("4")  # their check-in carries on as before
    await user.expect("Which parts")
    assert rows(settings, "SELECT actor, action, allowed FROM audit_log") == [
        ("refused", "update", 0)
    ]
    assert rows(settings, "SELECT count(*) FROM updates") == [(0,)]


async def send_update(coordinator: SandboxUser, text: str) -> None:
    """/update with one message, about the whole weekly check-in, sent."""
    await coordinator.send("/update")
    await coordinator.expect("Send what changed")
    await coordinator.send(text)
    await coordinator.expect("Added (1 so far)")
    await coordinator.press("Done")
    await coordinator.expect("What is this update about?")
    await coordinator.press("Weekly check-in")
    await coordinator.expect("one question, or the whole check-in?")
    await coordinator.press("The whole check-in")
    await coordinator.expect("Send?")
    await coordinator.press("Send")
    await coordinator.expect("Sent to")


async def test_people_say_whether_an_update_got_it_right_and_what_we_missed(
    client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(coordinators__user_ids=f"[{COORDINATOR}]")
    async with running(settings, clock=FakeClock(NOON)):
        a, b, _, _ = await contributors(client)
        coordinator = await client.user(COORDINATOR)
        await send_update(coordinator, "The drop-in now opens at 9am.")

        update_a = await a.expect(HEADER)
        assert update_a.button_texts() == ["Yes", "Partly", "No"]
        await a.press("Partly")
        await a.expect("What did we miss? Reply to this message")
        assert (await a.messages())[-2].button_texts() == ["Yes", "✓ Partly", "No"]
        # Their reply says what we missed; anything not a reply goes where it always goes.
        why = await a.last_bot_message()
        assert why is not None
        await a.send("9am is still too late for people sleeping out", reply_to=why.message_id)
        await a.expect("Thank you. The team will read this.")

        update_b = await b.expect(HEADER)
        await b.press("No")
        why_b = await b.expect("What did we miss?")
        await b.send_voice(b"OggS-Wombat-voice-4471", reply_to=why_b.message_id)
        await b.expect("Thank you. The team will read this.")
        [(voice,)] = rows(settings, "SELECT file_path FROM update_feedback WHERE verdict = 'no'")
        assert (settings.storage.files_path / voice).read_bytes() == b"OggS-Wombat-voice-4471"
        await b.press("Yes", message_id=update_b.message_id)  # a change of mind
        await b.expect(HEADER)

        await coordinator.send("/stats")
        report = await coordinator.expect("📊")
        assert "Did we get it right? (answers to 1 updates): Yes 1 · Partly 1 · No 0" in report.text
        assert "1 said what we missed" in report.text

        # It is theirs: /mydata shows it, /delete erases it.
        await a.send("/mydata")
        await a.expect("Here's what we keep about you")
        document = await a.wait_for_bot_message()
        mine = json.loads(await client.download(document.document["file_id"]))
        [verdict] = mine["did_we_get_it_right"]
        assert verdict["verdict"] == "partly"
        assert verdict["reason"] == "9am is still too late for people sleeping out"
        assert verdict["update_text"].endswith("The drop-in now opens at 9am.")
        await a.send("/delete")
        await a.expect("Are you sure?")
        await a.press("Yes, delete it all")
        await a.expect("Everything about you has been deleted")
        await b.send("/delete")
        await b.expect("Are you sure?")
        await b.press("Yes, delete it all")
        await b.expect("Everything about you has been deleted")
    assert rows(settings, "SELECT count(*) FROM update_feedback") == [(0,)]
    assert not (settings.storage.files_path / voice).exists()  # the voice note went with them
