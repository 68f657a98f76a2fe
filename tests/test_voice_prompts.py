"""A question with a recording (``audio = "prompts/week.ogg"``): checked by check-config at its
file and line, and heard on the phone after the question's text, in the person's language."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.cli import main
from bot.demo import demo_running
from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox.errors import bad_request
from bot.sandbox.faults import Faults
from bot.settings import ConfigError, Settings, load_settings
from bot.texts import Texts
from bot.voice.decode import RATE, decode, encode_ogg_opus
from tests.conftest import EXAMPLE, SHIPPED_EXAMPLE, join, running
from tests.test_demo import browser_test, chromium, open_page

WEEK_TEXT = '  text = "How has your week been?"\n'  # the English example's first question
WEEK_TEXT_EN = '  text.en = "How has your week been?"\n'  # the shipped (four-language) one


def tone(seconds: float, hz: float = 440.0) -> bytes:
    """Mono s16 PCM at 16 kHz: a sine tone, a stand-in for a recorded question."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


def ogg(seconds: float = 2.0, hz: float = 440.0) -> bytes:
    return encode_ogg_opus(tone(seconds, hz), RATE)


def wav(seconds: float = 2.0) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(tone(seconds))
    return buffer.getvalue()


def config_with(tmp_path: Path, audio_lines: str, example: Path = EXAMPLE) -> Path:
    """The example with ``audio_lines`` on its first question ("week"), in ``tmp_path``."""
    text = example.read_text(encoding="utf-8")
    anchor = WEEK_TEXT_EN if example == SHIPPED_EXAMPLE else WEEK_TEXT
    assert anchor in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace(anchor, audio_lines + anchor, 1), encoding="utf-8")
    return path


def line_of(path: Path, key: str) -> int:
    """The line that sets ``key`` (not a comment that mentions it)."""
    lines = enumerate(path.read_text().splitlines(), 1)
    return next(n for n, line in lines if line.lstrip().startswith(key))


# --- check-config ----------------------------------------------------------------------------


def test_a_missing_file_a_folder_and_a_file_that_is_not_audio_are_problems_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "notes.ogg").write_text("this is not a recording")
    path = config_with(
        tmp_path,
        '  audio.en = "prompts/week.ogg"\n',  # missing
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    line = line_of(path, "audio.en")
    key = 'check-in "weekly", question "week", audio.en'
    assert f"{path}:{line}: {key}: {tmp_path}/prompts/week.ogg does not exist" in err

    for given, why in (("prompts", "is not a file"), ("prompts/notes.ogg", "could not be decoded")):
        path = config_with(tmp_path, f'  audio = "{given}"\n')
        with pytest.raises(ConfigError) as raised:
            load_settings(path)
        (problem,) = raised.value.problems
        assert (problem.file, problem.line) == (str(path), line_of(path, "audio ="))
        assert problem.key == 'check-in "weekly", question "week", audio'
        assert why in problem.message and given in problem.message


def test_a_recording_in_a_language_the_project_does_not_offer_is_a_problem(
    tmp_path: Path,
) -> None:
    (tmp_path / "week.ogg").write_bytes(ogg())
    path = config_with(tmp_path, '  audio = { en = "week.ogg", de = "week.ogg" }\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    (problem,) = raised.value.problems
    assert problem.key.endswith("audio.de") and "not one of the project's languages" in str(problem)


def test_an_ogg_is_sent_as_it_is_and_other_audio_converted_once_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prompts").mkdir()
    recorded = ogg()
    (tmp_path / "prompts" / "week.ogg").write_bytes(recorded)
    (tmp_path / "prompts" / "week.wav").write_bytes(wav())
    path = config_with(tmp_path, '  audio = "prompts/week.ogg"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().out

    settings = load_settings(path)
    week = settings.checkins[0].questions[0]
    audio = settings.audio_for(week, "en")
    assert audio is not None and audio.data == recorded and not audio.converted
    assert round(audio.seconds) == 2

    path = config_with(tmp_path, '  audio = "prompts/week.wav"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    line = line_of(path, "audio =")
    assert f'{path}:{line}: check-in "weekly", question "week", audio: is not OGG/Opus' in out
    assert "it will be sent converted" in out
    settings = load_settings(path)
    converted = settings.audio_for(settings.checkins[0].questions[0], "en")
    assert converted is not None and converted.converted and converted.data[:4] == b"OggS"
    assert round(decode(converted.data).seconds) == 2  # the same recording, as a voice note


def test_a_long_or_big_recording_gets_a_warning_not_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = np.random.default_rng(7).integers(-8000, 8000, 130 * RATE).astype("<i2").tobytes()
    (tmp_path / "long.ogg").write_bytes(encode_ogg_opus(noise, RATE, bitrate=96_000))
    path = config_with(tmp_path, '  audio = "long.ogg"\n')
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "is 2.2 minutes long" in out and "MB as sent" in out
    assert "2 warning(s)" in out


# --- on the phone ----------------------------------------------------------------------------


def voices(messages: list[Any]) -> list[dict[str, Any]]:
    return [m.raw["voice"] for m in messages if m.from_bot and "voice" in m.raw]


async def heard(sandbox: Sandbox, voice: dict[str, Any]) -> bytes:
    record = sandbox.files.get(voice["file_id"])
    assert record is not None
    return await sandbox.files.read(record)


async def test_a_question_with_audio_reaches_the_phone_as_a_voice_note_in_their_language(
    tmp_path: Path, client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    (tmp_path / "prompts").mkdir()
    english, polish = ogg(hz=440), ogg(hz=660)
    (tmp_path / "prompts" / "week-en.ogg").write_bytes(english)
    (tmp_path / "prompts" / "week-pl.ogg").write_bytes(polish)
    config = config_with(
        tmp_path,
        '  audio.en = "prompts/week-en.ogg"\n  audio.pl = "prompts/week-pl.ogg"\n',
        SHIPPED_EXAMPLE,
    )
    settings: Settings = make_settings(config, nudges__quiet_hours="null")
    async with running(settings):
        eve = await client.user(9501, first_name="Eve", language_code="en")
        await join(eve)
        await eve.wait_for_bot_message()
        messages = await eve.messages()
        (voice,) = voices(messages)
        question = next(m for m in messages if "How has your week been?" in (m.text or ""))
        # After the question's text, which keeps its buttons; the recording as written.
        assert messages[-1].raw.get("voice") == voice and question.buttons
        assert messages[-1].message_id > question.message_id
        assert await heard(sandbox, voice) == english and voice["duration"] == 2

        # A hint shows the question again, without the recording again.
        await eve.send("fine I suppose")
        await eve.expect("How has your week been?")
        await eve.press("2")
        await eve.expect("What made it hard?")
        assert len(voices(await eve.messages())) == 1

        # Ola reads Polish and hears the Polish recording; Radu reads Romanian, which has
        # none, and hears the project's language's (English).
        ola = await client.user(9502, first_name="Ola", language_code="pl")
        await ola.send("/start")
        await ola.wait_for_bot_message()
        await ola.press(Texts.load("pl")("consent.yes"))
        await ola.expect("Jak minął ci tydzień?")
        await ola.wait_for_bot_message()
        (voice,) = voices(await ola.messages())
        assert await heard(sandbox, voice) == polish
        radu = await client.user(9503, first_name="Radu", language_code="ro")
        await radu.send("/start")
        await radu.wait_for_bot_message()
        await radu.press(Texts.load("ro")("consent.yes"))
        await radu.expect("Cum a fost săptămâna ta?")
        await radu.wait_for_bot_message()
        (voice,) = voices(await radu.messages())
        assert await heard(sandbox, voice) == english

    # Each file was uploaded once; after that Telegram's file_id was sent instead; every
    # request met the Bot API spec (the sandbox checks each against api.json).
    sent = [r["params"]["voice"] for r in sandbox.requests if r["method"] == "sendVoice"]
    assert len(sent) == 3 and all(r["ok"] for r in sandbox.requests if r["method"] == "sendVoice")
    assert [isinstance(v, dict) for v in sent] == [True, True, False]
    assert not sandbox.violations


async def test_a_recording_that_cannot_be_sent_never_holds_the_question_up(
    tmp_path: Path, client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    (tmp_path / "week.ogg").write_bytes(ogg())
    settings: Settings = make_settings(config_with(tmp_path, '  audio = "week.ogg"\n'))

    async def refuse_voice(method: str, params: Any) -> None:
        if method == "sendVoice":
            raise bad_request("VOICE_MESSAGES_FORBIDDEN")  # their privacy settings say no

    sandbox.hooks.append(refuse_voice)
    async with running(settings):
        user = await client.user(9511)
        await join(user)
        await user.press("4")
        await user.expect("Which parts of the service")
        assert voices(await user.messages()) == []
    assert [r["method"] for r in sandbox.requests].count("sendVoice") == 1


async def test_a_recording_whose_answer_was_lost_is_not_sent_twice(
    tmp_path: Path, client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    (tmp_path / "week.ogg").write_bytes(ogg())
    settings: Settings = make_settings(config_with(tmp_path, '  audio = "week.ogg"\n'))
    # Telegram delivers each voice note, then its answer is lost (a 502 on the way back).
    sandbox.configure(faults=Faults(methods=["sendVoice"], after_error_rate=1.0))
    async with running(settings):
        user = await client.user(9521)
        await join(user)
        await user.send("not a number")  # a hint: the question again
        await user.expect("How has your week been?")
        await user.press("3")
        await user.expect("Which parts of the service")
        assert len(voices(await user.messages())) == 1  # it arrived once, and only once
    (sent,) = [r for r in sandbox.requests if r["method"] == "sendVoice"]
    assert sent.get("after_fault") == "error" and not sent["ok"]  # the bot never heard back


# --- the demo ---------------------------------------------------------------------------------


@browser_test
async def test_the_demo_plays_the_question_s_recording(tmp_path: Path) -> None:
    """In the browser try-out a question's recording is a player that really plays it."""
    from playwright.async_api import expect

    (tmp_path / "week.ogg").write_bytes(ogg(seconds=3))
    config = config_with(tmp_path, '  audio = "week.ogg"\n')
    async with demo_running(config, port=0, db=tmp_path / "demo.db") as demo, chromium() as browser:
        page = await open_page(browser, demo, {"width": 400, "height": 860})
        log = page.get_by_role("log", name="Messages with the bot")
        await page.get_by_role("button", name="Start", exact=True).click()
        await log.get_by_role("button", name="✅ Yes, I agree", exact=True).click()
        await expect(log.get_by_text("How has your week been?").last).to_be_visible()
        player = log.locator("audio.voice-prompt")
        await expect(player).to_have_count(1)
        seconds = await player.evaluate(
            "a => new Promise((done, failed) => { a.onloadedmetadata = () => done(a.duration);"
            " a.onerror = () => failed(String(a.error && a.error.code)); a.preload = 'metadata';"
            " a.load(); })"
        )
        # The browser read the recording's header (its length is known only once it has all
        # of it: the sandbox does not serve byte ranges), and it comes as a voice note does.
        assert seconds > 0
        kind = await player.evaluate("a => fetch(a.src).then(r => r.headers.get('content-type'))")
        assert kind == "audio/ogg"
        assert not demo.sandbox.violations
