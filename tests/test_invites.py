"""Invites: a deep link and QR code per cohort; /start <code> records the cohort on consent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.sandbox import SandboxClient
from bot.settings import Settings, load_settings
from storage import invites
from storage.db import Database
from tests.conftest import EXAMPLE, rows, running

LINK = re.compile(r"^https://t\.me/EverystageBot\?start=([A-Za-z0-9_-]{1,64})$")


async def make_invite(settings: Settings, cohort: str) -> str:
    db = await Database.open(settings.storage)
    try:
        return await invites.create(db, cohort, datetime.now(UTC))
    finally:
        await db.close()


def test_the_invite_command_prints_a_deep_link_and_writes_a_qr_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    monkeypatch.delenv("EVERYSTAGE_BOT_USERNAME", raising=False)
    qr = tmp_path / "poster.png"
    args = ["invite", "--config", str(EXAMPLE), "--cohort", "Riverside drop-in", "--qr", str(qr)]
    assert main(args) == 2  # no username
    assert "--bot-username" in capsys.readouterr().err

    assert main([*args, "--bot-username", "@EverystageBot"]) == 0
    link = capsys.readouterr().out.strip()
    match = LINK.match(link)
    assert match, link
    code = match.group(1)
    assert qr.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    settings = load_settings(EXAMPLE)
    assert rows(settings, "SELECT code, cohort FROM invites") == [(code, "Riverside drop-in")]

    monkeypatch.setenv("EVERYSTAGE_BOT_USERNAME", "EverystageBot")
    monkeypatch.chdir(tmp_path)
    assert main(["invite", "--config", str(EXAMPLE), "--cohort", "Night shelter"]) == 0
    second = LINK.match(capsys.readouterr().out.strip())
    assert second and second.group(1) != code
    assert (tmp_path / "invite-night-shelter.png").exists()


async def test_start_with_a_code_records_the_cohort_when_they_say_yes(
    client: SandboxClient, settings: Settings
) -> None:
    code = await make_invite(settings, "Riverside drop-in")
    async with running(settings):
        user = await client.user(4801)
        await user.send(f"/start {code}")
        welcome = await user.expect("Is that OK with you?")
        for row in welcome.buttons:
            for button in row:
                assert button.callback_data.endswith(f":{code}")
                assert len(button.callback_data.encode()) <= 64
        assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]  # nothing yet
        await user.press("Tell me more")
        await user.expect("We never share your answers")
        await user.press("✅ Yes, I agree")  # on the "more" message: the code rides along
        await user.expect("How has your week been?")

        other = await client.user(4802)
        await other.send("/start not-a-real-code")
        await other.expect("Is that OK with you?")
        await other.press("✅ Yes, I agree")
        await other.expect("How has your week been?")

        odd = await client.user(4803)
        await odd.send("/start ../../etc/passwd")
        await odd.expect("Is that OK with you?")
        await odd.press("No thanks")
        await odd.expect("We have not kept anything")

        late = await client.user(4804)
        await late.send(f"/start {code}")
        await late.expect("Is that OK with you?")
        await late.press("No thanks")
        await late.expect("We have not kept anything")

    assert sorted(rows(settings, "SELECT chat_id, cohort FROM participants")) == [
        (4801, "Riverside drop-in"),
        (4802, None),
    ]


async def test_the_code_is_kept_when_consent_is_asked_again(
    client: SandboxClient, make_settings: Any
) -> None:
    first = make_settings()
    async with running(first):
        user = await client.user(4805)
        await user.send("/start")
        await user.expect("Is that OK with you?")
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
    second = make_settings(consent__version="2")
    code = await make_invite(second, "Night shelter")
    async with running(second):
        await user.send(f"/start {code}")
        await user.expect("We've changed what we say")
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
    assert rows(second, "SELECT consent_version, cohort FROM participants") == [
        (2, "Night shelter")
    ]
