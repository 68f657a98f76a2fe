"""/listen: coordinators hear the voice notes nobody has heard, with transcription off.

End to end through the sandbox: a participant answers with a voice note, a coordinator sends
/listen in a private chat and gets the recording itself, and says what they heard.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.sandbox import SandboxClient, SandboxUser
from bot.settings import Settings
from bot.texts import Texts
from tests.conftest import join, rows, running

ALEX, BEA = 9101, 9102
TEAM_CHAT = -100700
TEXTS = Texts.load("en")
REACHED_OUT = "It sounds like things might be really hard right now"
START = datetime(2026, 11, 10, 10, tzinfo=UTC)  # a Tuesday morning: no quiet hours


@pytest.fixture
def team(make_settings: Any) -> Settings:
    return make_settings(
        coordinators__user_ids=f"[{ALEX}, {BEA}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )


async def speak(user: SandboxUser, settings: Settings, audio: bytes) -> str:
    """Join and answer "What made it hard?" with a voice note; the person's code name."""
    await join(user)
    await user.press("1")
    await user.expect("What made it hard?")
    await user.send_voice(audio, duration=4)
    await user.expect("Which parts of the service")
    [(pseudonym,)] = rows(
        settings, "SELECT pseudonym FROM participants WHERE chat_id = ?", (user.chat_id,)
    )
    return str(pseudonym)


async def listen(coordinator: SandboxUser) -> Any:
    """/listen, and the voice note it brings."""
    await coordinator.send("/listen")
    return await coordinator.expect("🎧 A voice note from")


async def test_a_voice_note_is_played_to_one_coordinator_and_heard_once(
    client: SandboxClient, team: Settings
) -> None:
    clock = FakeClock(START)
    async with running(team, clock=clock):
        alex = await client.user(ALEX, first_name="Alex")
        bea = await client.user(BEA, first_name="Bea")
        robin = await client.user(5101, first_name="Robin")
        first = await speak(robin, team, b"OggS-robin-voice-4471")
        clock.advance(timedelta(minutes=5))
        kit = await client.user(5102, first_name="Kit")
        second = await speak(kit, team, b"OggS-kit-voice-8812")
        clock.advance(timedelta(minutes=20))

        await alex.send("/stats")
        stats = await alex.expect("Voice notes waiting to be heard: 2")
        assert "the oldest came 25 min ago" in stats.text

        # The oldest to Alex, the recording itself; the next one to Bea, never the same.
        note = await listen(alex)
        assert note.raw["voice"]["duration"] == 4
        assert await client.download(note.raw["voice"]["file_id"]) == b"OggS-robin-voice-4471"
        assert first in note.text and "Weekly check-in (question hard-part)" in note.text
        assert (
            "25 min ago" in note.text
            and "They were asked: “Sorry it has been a hard week. What made it hard?" in note.text
        )
        assert "Robin" not in note.text and "5101" not in note.text
        assert note.button_texts() == ["Heard, fine", "Needs follow-up", "Type what they said"]
        assert [r["method"] for r in await client.requests()].count("sendVoice") == 1
        for_bea = await listen(bea)
        assert second in for_bea.text and first not in for_bea.text
        await bea.send("/listen")  # still Bea's until she says what she heard
        assert second in (await bea.expect("🎧 A voice note from")).text

        query = await alex.press("Heard, fine")
        answer = await alex.wait_callback_answer(query)
        assert answer["text"] == "✔ Heard: fine. 1 more waiting. Send /listen for the next."
        heard = await alex.expect("🎧 A voice note from")
        assert heard.message_id == note.message_id
        assert heard.button_texts() == ["✔ Heard, fine", "▶ Next voice note"]
        await alex.send("/stats")
        assert "waiting to be heard: 1 " in (await alex.expect("Voice notes waiting")).text

        # A second press records nothing more.
        again = await alex.press("✔ Heard, fine")
        assert (await alex.wait_callback_answer(again))["text"] == TEXTS("listen.already")

        # Bea's note, after her hold ran out, goes to Alex from "Next"; Bea, late, is told.
        clock.advance(timedelta(minutes=31))
        await alex.press("▶ Next voice note")
        taken = await alex.expect(f"🎧 A voice note from {second}")
        dropped = next(m for m in await alex.messages() if m.message_id == note.message_id)
        assert dropped.button_texts() == ["✔ Heard, fine"]  # "Next" goes once pressed
        last = await alex.press("Heard, fine", message_id=taken.message_id)
        assert "last one waiting" in (await alex.wait_callback_answer(last))["text"]
        late = await bea.press("Heard, fine")
        assert (await bea.wait_callback_answer(late))["text"] == TEXTS("listen.already")
        await bea.send("/listen")
        await bea.expect(TEXTS("listen.none"))
        await alex.send("/stats")
        stats = await alex.expect("Answers this week")
        assert "Voice notes waiting" not in stats.text

    assert rows(team, "SELECT outcome, heard_by FROM listens ORDER BY answer_id") == [
        ("fine", str(ALEX)),
        ("fine", str(ALEX)),
    ]
    assert rows(team, "SELECT count(*) FROM alerts") == [(0,)]
    assert ("listen-heard",) in rows(team, "SELECT DISTINCT action FROM audit_log")


async def test_needs_follow_up_raises_an_alert_without_the_words(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        alex = await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        robin = await client.user(5103, first_name="Robin")
        pseudonym = await speak(robin, team, b"OggS-worrying-voice")

        await listen(alex)
        query = await alex.press("Needs follow-up")
        answer = await alex.wait_callback_answer(query)
        assert answer["text"].startswith(TEXTS("listen.heard_follow_up"))
        alert = await group.expect("Safeguarding alert")
        assert pseudonym in alert.text and "Weekly check-in (question hard-part)" in alert.text
        assert "About: a voice note that needs follow-up" in alert.text
        assert "What they wrote is not shared here." in alert.text
        assert "Robin" not in alert.text and "5103" not in alert.text
        assert alert.button_texts() == ["I'm on it"]
        chosen = await alex.expect("🎧")
        assert chosen.button_texts() == ["✔ Needs follow-up"]  # none left: no "Next"

    assert rows(team, "SELECT outcome FROM listens") == [("follow_up",)]
    assert rows(team, "SELECT checkin_id, question_id, shared_text FROM alerts") == [
        ("weekly", "hard-part", None)
    ]


async def test_what_a_coordinator_types_is_kept_as_theirs_and_screened(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        alex = await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        await speak(await client.user(5104), team, b"OggS-bus-pass")
        pseudonym = await speak(await client.user(5105), team, b"OggS-end-it")

        note = await listen(alex)
        await alex.press("Type what they said")
        prompt = await alex.expect("Type what they said in voice note #")
        marked = next(m for m in await alex.messages() if m.message_id == note.message_id)
        assert "✔ Type what they said" in marked.button_texts()
        await alex.send("The bus pass ran out and the drop-in was shut", reply_to=prompt.message_id)
        kept = await alex.expect(TEXTS("listen.written"))
        assert "1 more waiting" in kept.text and kept.button_texts() == ["▶ Next voice note"]

        await alex.press("▶ Next voice note")
        second = await alex.expect("🎧 A voice note from")
        assert pseudonym in second.text
        await alex.press("Type what they said", message_id=second.message_id)
        prompt = await alex.expect("Type what they said in voice note #")
        await alex.send("She said she wants to end it all", reply_to=prompt.message_id)
        flagged = await alex.expect(TEXTS("listen.written_alert"))
        assert "last one waiting" in flagged.text
        alert = await group.expect("Safeguarding alert")
        assert pseudonym in alert.text and "About: suicide" in alert.text
        assert "end it all" not in alert.text
        # The words were someone else's: the coordinator is not offered support for them.
        assert not any(REACHED_OUT in (m.text or "") for m in await alex.messages())

    assert rows(
        team,
        "SELECT a.transcript, a.transcript_by, l.outcome, l.heard_by FROM answers a"
        " JOIN listens l ON l.answer_id = a.id ORDER BY a.id",
    ) == [
        ("The bus pass ran out and the drop-in was shut", "coordinator", "typed", str(ALEX)),
        ("She said she wants to end it all", "coordinator", "typed", str(ALEX)),
    ]
    assert rows(team, "SELECT category, shared_text FROM alerts") == [("suicide", None)]
    # Nothing the coordinator typed became an answer of theirs.
    assert rows(team, "SELECT count(*) FROM participants WHERE chat_id = ?", (ALEX,)) == [(0,)]


async def test_listen_is_for_coordinators_in_a_private_chat(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team):
        alex = await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        robin = await client.user(5106, first_name="Robin")
        await speak(robin, team, b"OggS-private")

        await group.send(ALEX, "/listen")
        await group.expect(TEXTS("listen.private_only"))
        await robin.send("/listen")
        await robin.expect(TEXTS("admin.refused"))
        await alex.send("/listen")
        await alex.expect("🎧 A voice note from")

    sent = [r for r in await client.requests() if r["method"] == "sendVoice"]
    assert [str(r["params"]["chat_id"]) for r in sent] == [str(ALEX)]
    assert rows(team, "SELECT sent_to, heard_at FROM listens") == [(str(ALEX), None)]


async def test_the_digest_counts_voice_notes_waiting_without_their_content(
    client: SandboxClient, team: Settings
) -> None:
    async with running(team, clock=FakeClock(START)):
        alex = await client.user(ALEX, first_name="Alex")
        robin = await client.user(5107, first_name="Robin")
        pseudonym = await speak(robin, team, b"OggS-digest")
        await alex.send("/digest")
        summary = await alex.expect("📊 Weekly digest")
        assert "Voice notes waiting to be heard: 1 (the oldest came Tue 10 Nov 10:00)" in (
            summary.text
        )
        assert pseudonym not in summary.text and "Robin" not in summary.text
