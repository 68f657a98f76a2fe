"""Voice notes made into words, end to end: espeak-ng speaks, the phone sends the voice note
through the sandbox, the real transcriber (PocketSphinx, in a worker process) hears it, and the
person checks what it heard.

Recognition of synthetic speech is imperfect, so where the test depends on what was heard it
reads the stored words and asserts what the pipeline guarantees for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import pytest

from bot.sandbox import SandboxClient, SandboxUser
from bot.settings import DEFAULT_PHRASES, Settings
from bot.voice.decode import decode, encode_ogg_opus
from conversations.safeguarding import compile_phrases
from tests.conftest import join, raw_database_bytes, reaches_disk, rows, running

ALEX = 9101
TEAM_CHAT = -100777
HEARD = "Here's what I heard"
REACHED_OUT = "It sounds like things might be really hard right now"
# Time for a worker process to start, load PocketSphinx and hear a few seconds of speech.
TRANSCRIBED = 60.0


@pytest.fixture(scope="module")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A function making a sentence into an OGG/Opus voice note, as a phone records one."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs the voice tests: espeak-ng is not installed (see .ci/run)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("speech")

    def voice_note(sentence: str) -> bytes:
        wav = folder / f"{abs(hash(sentence))}.wav"
        subprocess.run(
            [espeak, "-v", "en-gb", "-s", "130", "-w", str(wav), sentence],
            check=True,
            capture_output=True,
        )
        audio = decode(wav.read_bytes())
        return encode_ogg_opus(audio.pcm, audio.rate)

    return voice_note


@pytest.fixture
def team(make_settings: Any) -> Settings:
    return make_settings(
        coordinators__user_ids=f"[{ALEX}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )


async def answer_by_voice(user: SandboxUser, note: bytes) -> None:
    """Join, answer "1", and say what made the week hard in a voice note."""
    await join(user)
    await user.press("1")
    await user.expect("What made it hard?")
    await user.send_voice(note, duration=3)
    # The next question comes at once: transcription never holds the check-in up.
    await user.expect("Which parts of the service")


def words_of(settings: Settings) -> list[tuple[Any, ...]]:
    return rows(
        settings, "SELECT transcript, transcript_by FROM answers WHERE file_path IS NOT NULL"
    )


def waiting_to_be_heard(settings: Settings) -> int:
    [(count,)] = rows(settings, "SELECT count(*) FROM listens WHERE heard_at IS NULL")
    return int(count)


async def test_a_spoken_safeguarding_phrase_raises_the_alert_and_waits_to_be_heard(
    client: SandboxClient, team: Settings, speak: Any
) -> None:
    async with running(team):
        await client.user(ALEX, first_name="Alex")
        group = await client.group(TEAM_CHAT, "Riverside team", added_by=ALEX)
        user = await client.user(5101, first_name="Robin")
        await answer_by_voice(user, speak("I want to end my life"))
        heard = await user.expect(HEARD, timeout=TRANSCRIBED)
        assert heard.button_texts() == ["That's right", "Let me fix it", "Keep it as audio only"]
        assert "What made it hard?" in heard.text

        [(words, by)] = words_of(team)
        assert by == "machine" and words and f"“{words}”" in heard.text
        # Until the person confirms the words, a coordinator still has to listen.
        assert waiting_to_be_heard(team) == 1
        if compile_phrases(DEFAULT_PHRASES).match(words) is not None:
            support = next(m for m in await user.messages() if REACHED_OUT in (m.text or ""))
            assert "let the project team know" in support.text
            alert = await group.expect("Safeguarding alert")
            assert "About: suicide" in alert.text
            assert words not in alert.text and "Robin" not in alert.text
            [(category, shared)] = rows(team, "SELECT category, shared_text FROM alerts")
            assert (category, shared) == ("suicide", None)
        else:  # misheard: nothing matched, and the listen queue is the safety net
            assert rows(team, "SELECT count(*) FROM alerts") == [(0,)]

        await user.press("That's right")
        await user.expect("Kept as you said it")
        assert words_of(team) == [(words, "person")]
        assert waiting_to_be_heard(team) == 0


async def test_the_person_fixes_the_words_and_theirs_replace_the_machines(
    client: SandboxClient, team: Settings, speak: Any
) -> None:
    async with running(team):
        user = await client.user(5102)
        await answer_by_voice(user, speak("the showers were cold again"))
        await user.expect(HEARD, timeout=TRANSCRIBED)
        [(machine, _)] = words_of(team)

        await user.press("Let me fix it")
        asked = await user.expect("Type what you said")
        await user.send("The showers were cold, Pangolin-4411", reply_to=asked.message_id)
        await user.expect("Your words are kept as you typed them")

    assert words_of(team) == [("The showers were cold, Pangolin-4411", "person")]
    assert waiting_to_be_heard(team) == 0
    # The machine's words were kept in the queued message too; they are gone from there.
    assert rows(team, "SELECT text FROM outbox WHERE message_key LIKE 'heard:%'") == [("",)]
    if not team.storage.is_postgres:  # (PostgreSQL keeps replaced rows until it vacuums)
        assert not reaches_disk(team, machine.encode())


async def test_keep_it_as_audio_only_forgets_the_words_everywhere(
    client: SandboxClient, team: Settings, speak: Any
) -> None:
    async with running(team):
        user = await client.user(5103)
        await answer_by_voice(user, speak("the staff were kind to me this week"))
        heard = await user.expect(HEARD, timeout=TRANSCRIBED)
        [(machine, _)] = words_of(team)

        await user.press("Keep it as audio only")
        edited = await user.expect("Kept as audio only")
        assert edited.message_id == heard.message_id and machine not in edited.text
        assert words_of(team) == [(None, None)]
        assert waiting_to_be_heard(team) == 1  # a coordinator listens instead
    blob = raw_database_bytes(team)
    assert machine.encode() not in blob


async def test_delete_leaves_no_audio_words_or_queue_entry(
    client: SandboxClient, team: Settings, speak: Any
) -> None:
    async with running(team):
        user = await client.user(5104)
        await answer_by_voice(user, speak("I sleep in the car most nights"))
        await user.expect(HEARD, timeout=TRANSCRIBED)
        [(machine, _)] = words_of(team)
        [(name,)] = rows(team, "SELECT file_path FROM answers WHERE file_path IS NOT NULL")

        await user.send("/delete")
        await user.expect("Are you sure?")
        await user.press("Yes, delete it all")
        await user.expect("Everything about you has been deleted")

    for table in ("answers", "listens", "transcriptions", "outbox"):
        assert rows(team, f"SELECT count(*) FROM {table}") == [(0,)], table
    assert not (team.storage.files_path / name).exists()
    assert not reaches_disk(team, machine.encode())


async def test_a_note_queued_before_a_restart_is_heard_once_after_it(
    client: SandboxClient, team: Settings, speak: Any
) -> None:
    user = await client.user(5105)
    async with running(team):
        await answer_by_voice(user, speak("the food at the drop in was good"))
        # Stopped at once: the note is queued, maybe being heard; either way it is kept.
    async with running(team):
        await user.expect(HEARD, timeout=TRANSCRIBED)
        await user.press("That's right")
        await user.expect("Kept as you said it")
    heard = [m for m in await user.messages() if HEARD in (m.text or "")]
    assert len(heard) == 1
    assert rows(team, "SELECT count(*) FROM transcriptions") == [(0,)]


async def test_with_transcription_off_notes_wait_for_a_coordinator_only(
    client: SandboxClient, make_settings: Any, speak: Any
) -> None:
    settings = make_settings(voice__transcribe="false", nudges__quiet_hours="null")
    async with running(settings):
        user = await client.user(5106)
        await answer_by_voice(user, speak("nobody listens to us"))
    assert rows(settings, "SELECT count(*) FROM transcriptions") == [(0,)]
    assert words_of(settings) == [(None, None)]
    assert waiting_to_be_heard(settings) == 1
    assert not [m for m in await user.messages() if HEARD in (m.text or "")]


async def test_the_real_process_killed_mid_transcription_hears_the_note_once_and_logs_no_words(
    sandbox: Any, client: SandboxClient, tmp_path: Any, speak: Any
) -> None:
    """``everystage run`` at DEBUG, SIGKILLed while its worker holds the note: after a restart
    the note is transcribed and shown once, and neither run's log holds the words."""
    import asyncio
    import signal
    import sqlite3

    from bench.chaos import BotProcess
    from tests.conftest import EXAMPLE

    config = tmp_path / "example.toml"
    config.write_text(EXAMPLE.read_text())
    # Killed after the words were kept, the message waits in the outbox for the next tick.
    env = {"EVERYSTAGE_LOGGING__LEVEL": "DEBUG", "EVERYSTAGE_NUDGES__CHECK_EVERY_SECONDS": "2"}
    bot = BotProcess(sandbox.url, tmp_path, config, env=env)

    def claimed() -> int:
        with sqlite3.connect(bot.database) as db:
            return db.execute(
                "SELECT count(*) FROM transcriptions WHERE claimed_until IS NOT NULL"
            ).fetchone()[0]

    try:
        await bot.start()
        user = await client.user(5107)
        await join(user)
        await user.press("1")
        await user.expect("What made it hard?", timeout=30)
        await user.send_voice(speak("the kitchen smells of damp every morning"), duration=3)
        await user.expect("Which parts of the service", timeout=30)
        for _ in range(600):  # the worker has the note (or has already heard it)
            if claimed() or [m for m in await user.messages() if HEARD in (m.text or "")]:
                break
            await asyncio.sleep(0.05)
        await bot.kill(signal.SIGKILL)
        await bot.start()
        for _ in range(250):  # shown before the kill, or after the restart
            if [m for m in await user.messages() if HEARD in (m.text or "")]:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(4)  # a second copy would come now
    finally:
        await bot.ensure_stopped()
    heard = [m for m in await user.messages() if HEARD in (m.text or "")]
    assert len(heard) == 1
    with sqlite3.connect(bot.database) as db:
        [(words,)] = db.execute("SELECT transcript FROM answers WHERE file_path IS NOT NULL")
        assert db.execute("SELECT count(*) FROM transcriptions").fetchone() == (0,)
    assert words and bot.log is not None
    assert words.encode() not in bot.log.read_bytes()
