"""/suggest: a participant proposes something, the team sees it under a code name and adopts
it, leaves it for now or replies; the person hears what happened, once."""

from __future__ import annotations

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

        # Adopted: Ada hears it once, however often it is pressed.
        await team.press(COORDINATOR, "Adopt", first.message_id)
        told = await ada.expect("the team is taking up your suggestion")
        assert "“Ask us about the night shelter”" in told.text
        again = await team.press(COORDINATOR, "Adopt", first.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(again))["text"] == "That is decided already."
        shown = {m.message_id: m for m in await team.messages()}[first.message_id]
        assert shown.text.startswith(f"💡 Suggestion #1 from {ada_code}: adopted")
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
