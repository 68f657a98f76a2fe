"""/suggest: a participant proposes something, the team sees it under a code name and adopts
it, leaves it for now or replies; the person hears what happened, once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.sandbox import Sandbox, SandboxClient
from bot.settings import Settings
from tests.conftest import join, rows, running, settle

COORDINATOR = 7900
TEAM_CHAT = -100790


async def test_a_suggestion_reaches_the_team_under_a_code_name_and_its_author_hears_back(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )
    async with running(settings) as app:
        await client.user(COORDINATOR, first_name="Jo")
        team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        ada = await client.user(7901, first_name="Ada")
        ben = await client.user(7902, first_name="Ben")
        for person in (ada, ben):
            await join(person)

        # Two ways: the words with the command, or the command and then a reply.
        await ada.send("/suggest Ask us about the night shelter")
        await ada.expect("The team will look at your suggestion")
        await ben.send("/suggest")
        ask = await ben.expect("What would you like to suggest?")
        await ben.send("Hot meals at the weekend", reply_to=ask.message_id)
        await ben.expect("The team will look at your suggestion")

        [(ada_code,), (ben_code,)] = rows(
            settings, "SELECT pseudonym FROM participants ORDER BY chat_id"
        )
        await settle(sandbox, app)  # both posted to the team (in either order)
        posted = {m.text.split(" from ")[0]: m for m in await team.messages() if m.from_bot}
        first, second = posted["💡 Suggestion #1"], posted["💡 Suggestion #2"]
        assert first.text == f"💡 Suggestion #1 from {ada_code}:\nAsk us about the night shelter"
        assert "Ada" not in first.text and "7901" not in first.text
        assert first.button_texts() == ["Adopt", "Not now", "Reply"]
        assert second.text == f"💡 Suggestion #2 from {ben_code}:\nHot meals at the weekend"

        # Adopted: Ada hears it once, however often it is pressed (a double tap: both presses
        # before the buttons change).
        presses = await asyncio.gather(
            team.press(COORDINATOR, "Adopt", first.message_id),
            team.press(COORDINATOR, "Adopt", first.message_id),
        )
        told = await ada.expect("the team is taking up your suggestion")
        assert "“Ask us about the night shelter”" in told.text
        await settle(sandbox, app)
        answers = sorted([(await client.callback_answer(q))["text"] for q in presses])
        assert answers == ["Adopted: they'll hear it.", "That is decided already."]
        shown = {m.message_id: m for m in await team.messages()}[first.message_id]
        assert shown.text.startswith(f"💡 Suggestion #1 from {ada_code}: adopted")
        assert "Adopt" not in shown.button_texts()
        # Ben gets a reply, as the coordinator wrote it, then "not now".
        await team.press(COORDINATOR, "Reply", second.message_id)
        prompt = await team.expect("Your reply to suggestion #2")
        await client.call(
            "POST",
            f"/chats/{TEAM_CHAT}/messages",
            {
                "text": "We are pricing it up for the spring.",
                "user_id": COORDINATOR,
                "reply_to_message_id": prompt.message_id,
            },
        )
        await team.expect("Your reply to suggestion #2 is on its way.")
        await ben.expect("The team replied to your suggestion:\n\nWe are pricing it up")
        await team.press(COORDINATOR, "Not now", second.message_id)
        await ben.expect("can't take it up right now")

        told_ada = [m for m in await ada.messages() if "taking up your suggestion" in m.text]
        assert len(told_ada) == 1

        # Theirs: /mydata shows it; /delete erases it.
        await ada.send("/mydata")
        await ada.expect("Here's what we keep about you")
        document = await ada.wait_for_bot_message()
        mine = json.loads(await client.download(document.document["file_id"]))
        assert mine["involvement"]["suggestions"] == 1  # it counts toward their record
        [suggestion] = mine["your_suggestions"]
        assert (suggestion["text"], suggestion["status"]) == (
            "Ask us about the night shelter",
            "adopted",
        )
        await ada.send("/delete")
        await ada.expect("Are you sure?")
        await ada.press("Yes, delete it all")
        await ada.expect("Everything about you has been deleted")
        await team.press(COORDINATOR, "Not now", first.message_id)
    assert rows(settings, "SELECT text, status, answer FROM suggestions") == [
        ("Hot meals at the weekend", "not_now", "We are pricing it up for the spring.")
    ]


async def test_an_adopted_suggestion_becomes_a_vote_or_a_check_in_in_one_step(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )
    async with running(settings) as app:
        await client.user(COORDINATOR, first_name="Jo")
        team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        ada = await client.user(7911, first_name="Ada")
        ben = await client.user(7912, first_name="Ben")
        for person in (ada, ben):
            await join(person)
        await ada.send("/suggest Open the drop-in at the weekend")
        posted = await team.expect("Suggestion #1")
        await team.press(COORDINATOR, "Adopt", posted.message_id)
        await ada.expect("the team is taking up your suggestion")
        await settle(sandbox, app)
        adopted = {m.message_id: m for m in await team.messages()}[posted.message_id]
        assert adopted.button_texts() == [
            "🗳 Put it to a vote",
            "Ask with a check-in",
            "Not now",
            "Reply",
        ]

        # A vote: the suggestion's words are the question; the team only writes the answers.
        await team.press(COORDINATOR, "🗳 Put it to a vote", posted.message_id)
        prompt = await team.expect("Suggestion #1 as a vote")
        await client.call(
            "POST",
            f"/chats/{TEAM_CHAT}/messages",
            {
                "text": "- Saturday\n- Sunday",
                "user_id": COORDINATOR,
                "reply_to_message_id": prompt.message_id,
            },
        )
        preview = await team.expect("Put this to 2 people?")
        assert "Open the drop-in at the weekend\n• Saturday\n• Sunday" in preview.text
        await team.press(COORDINATOR, "Put it to them", preview.message_id)
        await team.expect("Decision #1 is on its way to 2 people")
        for person in (ada, ben):
            ballot = await person.expect("We'd like you to decide")
            assert "Open the drop-in at the weekend" in ballot.text
            assert ballot.button_texts() == ["Saturday", "Sunday"]

        # Or a check-in now, to everyone, once however often it is pressed.
        await team.press(COORDINATOR, "Ask with a check-in", posted.message_id)
        which = await team.expect("Which check-in should go out now about suggestion #1?")
        await team.press(COORDINATOR, "Quick pulse", which.message_id)
        await team.expect("Sending the Quick pulse to 2 people now.")
        await ben.expect("Quick pulse")
        await team.press(COORDINATOR, "Quick pulse", which.message_id)
        await team.expect("Sending the Quick pulse to 0 people now.")
    assert rows(settings, "SELECT count(*) FROM decision_voters") == [(2,)]
