"""Coordinators steer the project from Telegram: refused for everyone else, audited for all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import SandboxClient
from bot.settings import Settings
from tests.conftest import EXAMPLE, join, rows, running

COORDINATOR = 9001
TEAM_CHAT = -100500


@pytest.fixture
def config_copy(tmp_path: Path) -> Path:
    path = tmp_path / "project.toml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture
def team_settings(make_settings: Any, config_copy: Path) -> Settings:
    return make_settings(
        config_copy,
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        nudges__quiet_hours="null",
    )


def edit(path: Path, text: str) -> None:
    """A coordinator saving the config file."""
    path.write_text(text)


@pytest.mark.parametrize("command", ["/stats", "/stage", "/stage next", "/ask weekly", "/reload"])
async def test_every_admin_command_is_refused_for_participants_and_audited(
    client: SandboxClient, team_settings: Settings, command: str
) -> None:
    async with running(team_settings):
        user = await client.user(8001)
        await join(user)
        await user.send(command)
        await user.expect("Sorry, that's only for the project team.")
    audit = rows(team_settings, "SELECT actor, action, detail, allowed FROM audit_log")
    assert audit == [("refused", command.split()[0][1:], "", 0)]
    assert "8001" not in str(audit)


async def test_stats_count_people_without_showing_their_ids(
    client: SandboxClient, team_settings: Settings
) -> None:
    async with running(team_settings):
        people = [await client.user(8100 + i) for i in range(3)]
        for person in people:
            await join(person)
        await people[0].press("4")
        await people[0].expect("Which parts")
        await people[1].send("/pause")
        await people[1].expect("I've paused")
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        await coordinator.send("/ask design-reflection")
        await coordinator.expect("to 2 people")
        await people[0].expect("Time for the Design reflection")
        await people[0].press("▶ Start now")
        await people[0].expect("made that day easier?")
        await people[0].send("A warm drink and someone to talk to")
        await people[0].expect("tell the staff")
        await people[0].press("Skip")
        await people[0].expect("Thank you for sharing this")
        # Replies go before broadcasts: the other nudge may only now be on its way.
        await people[2].expect("Time for the Design reflection")
        await coordinator.send("/stats")
        report = await coordinator.expect("📊")
    assert "2 taking part · 1 paused · 0 stopped" in report.text
    assert "Answers this week: 2" in report.text
    assert "• design-reflection: 1 / 2 (50%)" in report.text
    assert "• design: 1 people, 1 check-ins completed; nudges answered 1 / 2 (50%)" in report.text
    assert not any(str(p.chat_id) in report.text for p in people)
    assert rows(team_settings, "SELECT actor, action, allowed FROM audit_log") == [
        (str(COORDINATOR), "ask", 1),
        (str(COORDINATOR), "stats", 1),
    ]


async def test_a_stage_change_reaches_every_active_participant_once_and_survives_restart(
    client: SandboxClient, team_settings: Settings
) -> None:
    people = [await client.user(8200 + i) for i in range(3)]
    async with running(team_settings):
        for person in people:
            await join(person)
        await people[2].send("/stop")
        await people[2].expect("stopped taking part")
        await client.user(COORDINATOR, first_name="Jo")
        team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        await team.send(COORDINATOR, "/stage")
        await team.expect("The project is in the design stage")
        await team.press(COORDINATOR, "→ delivery")
        await team.expect("Move the project to the delivery stage? Everyone taking part (2")
        await team.press(COORDINATOR, "Yes, move to delivery")
        await team.expect("now in the delivery stage")
        for person in people[:2]:
            await person.expect("moved to the delivery stage")
    async with running(team_settings) as app:
        from bot import outreach

        await outreach.tick(app)
        assert app.bot_data["everystage.services"].stage.name == "delivery"
    for person in people[:2]:
        said = [m for m in await person.messages() if "delivery stage" in (m.text or "")]
        assert len(said) == 1
    assert not [m for m in await people[2].messages() if "delivery stage" in (m.text or "")]
    assert ("stage-changed", "delivery") in rows(
        team_settings, "SELECT action, detail FROM audit_log"
    )


async def test_ask_sends_a_check_in_to_everyone_active_once(
    client: SandboxClient, team_settings: Settings
) -> None:
    people = [await client.user(8300 + i) for i in range(4)]
    async with running(team_settings):
        for person in people:
            await join(person)
        await people[3].send("/pause")
        await people[3].expect("I've paused")
        coordinator = await client.user(COORDINATOR)
        await coordinator.send("/ask nope")
        await coordinator.expect("Which check-in?")
        await coordinator.send("/ask design-reflection")
        await coordinator.expect("Sending the Design reflection to 3 people")
        for person in people[:3]:
            await person.expect("Time for the Design reflection")
            await person.press("▶ Start now")
            await person.expect("What would have made that day easier?")
    for person in people[:3]:
        nudged = [m for m in await person.messages() if "Time for the Design" in (m.text or "")]
        assert len(nudged) == 1
    assert not [m for m in await people[3].messages() if "Design reflection" in (m.text or "")]


async def test_reload_keeps_the_old_config_when_the_new_one_is_broken(
    client: SandboxClient, team_settings: Settings, config_copy: Path
) -> None:
    async with running(team_settings, config_path=config_copy):
        coordinator = await client.user(COORDINATOR)
        original = EXAMPLE.read_text()
        edit(config_copy, original.replace('kind = "yesno"', 'kind = "maybe"'))
        await coordinator.send("/reload")
        failed = await coordinator.expect("kept the old one running")
        assert f"{config_copy}:" in failed.text and "unknown question kind 'maybe'" in failed.text

        participant = await client.user(8400)
        await join(participant)  # the old prompts still work

        edit(config_copy, original.replace("How has your week been?", "How was your week?"))
        await coordinator.send("/reload")
        await coordinator.expect("Reloaded: 3 check-ins")
        newcomer = await client.user(8401)
        await newcomer.send("/start")
        await newcomer.expect("Is that OK with you?")
        await newcomer.press("✅ Yes, I agree")
        await newcomer.expect("How was your week?")
