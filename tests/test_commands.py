"""Command menus: the participants' list by default, the coordinators' list in their chats.

Published with setMyCommands (BotCommandScopeChat for each listed coordinator's private chat and
for the coordinators' chat) at start-up and after /reload, and read back through the sandbox's
getMyCommands with the same scope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import BotCommandScopeChat

from bot.commands import COMMANDS, COORDINATOR_COMMANDS
from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox.testing import TEST_TOKEN
from bot.settings import Settings
from bot.texts import Texts
from tests.conftest import EXAMPLE, join, running

COORDINATOR = 9001
NEVER_STARTED = 9002  # listed, but never wrote to the bot: Telegram says "chat not found"
NEWCOMER = 9003
TEAM_CHAT = -100600
TEXTS = Texts.load("en")

PARTICIPANTS = list(COMMANDS)
THEIRS = list(COORDINATOR_COMMANDS)


def project(path: Path, user_ids: list[int], chat_id: int | None) -> Path:
    """The example project with these coordinators (written where /reload will read it)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text, listed = re.subn(r"^user_ids = \[.*\]$", f"user_ids = {user_ids}", text, flags=re.M)
    chat = f"chat_id = {chat_id}" if chat_id is not None else "# no chat_id"
    text, chats = re.subn(r"^#? ?chat_id = -?\d+$", chat, text, flags=re.M)
    assert (listed, chats) == (1, 1), "the example's [coordinators] section has changed"
    path.write_text(text, encoding="utf-8")
    return path


async def menu(app: Any, chat_id: int | None = None) -> list[str]:
    """getMyCommands for the default scope, or for one chat's scope."""
    scope = None if chat_id is None else BotCommandScopeChat(chat_id)
    return [c.command for c in await app.bot.get_my_commands(scope=scope)]


async def test_coordinators_see_their_commands_where_they_work(
    sandbox: Sandbox,
    client: SandboxClient,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = project(tmp_path / "project.toml", [NEVER_STARTED, COORDINATOR], TEAM_CHAT)
    coordinator = await client.user(COORDINATOR, first_name="Jo")
    await coordinator.send("/help")  # they have talked to the bot
    team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
    caplog.set_level(logging.WARNING)
    async with running(make_settings(config), config_path=config) as app:
        assert await menu(app) == PARTICIPANTS  # everyone else: unchanged
        assert await menu(app, COORDINATOR) == THEIRS + PARTICIPANTS
        assert await menu(app, TEAM_CHAT) == THEIRS
        published = await app.bot.get_my_commands(scope=BotCommandScopeChat(TEAM_CHAT))
        assert [c.description for c in published] == [
            TEXTS(f"coordinator_commands.{name}") for name in THEIRS
        ]
        # The coordinator who never started the bot: logged, and nothing else was stopped.
        assert "commands in the private chat of coordinator 1 in coordinators.user_ids" in (
            caplog.text
        )
        assert str(NEVER_STARTED) not in caplog.text  # no Telegram ids in logs
        assert "Chat not found" in caplog.text  # as python-telegram-bot words it
        participant = await client.user(4101)
        await join(participant)

        # /reload with another coordinator listed: the newcomer gets the menu, Jo loses it.
        newcomer = await client.user(NEWCOMER, first_name="Ade")
        await newcomer.send("/help")
        project(config, [NEWCOMER], TEAM_CHAT)
        await team.send(COORDINATOR, "/reload")
        await team.expect("Reloaded")
        assert await menu(app, NEWCOMER) == THEIRS + PARTICIPANTS
        assert await menu(app, COORDINATOR) == []  # their chat shows the default list again
        assert await menu(app, TEAM_CHAT) == THEIRS
        assert await menu(app) == PARTICIPANTS
    deleted = [r for r in sandbox.requests if r["method"] == "deleteMyCommands"]
    assert [r["ok"] for r in deleted] == [True]


async def test_without_a_config_file_reload_is_not_offered(
    client: SandboxClient, make_settings: Callable[..., Settings]
) -> None:
    coordinator = await client.user(COORDINATOR, first_name="Jo")
    await coordinator.send("/help")
    settings = make_settings(coordinators__user_ids=f"[{COORDINATOR}]")
    async with running(settings) as app:
        assert await menu(app, COORDINATOR) == [n for n in THEIRS if n != "reload"] + PARTICIPANTS


async def test_the_sandbox_keeps_one_list_per_scope_and_refuses_unknown_chats(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    await (await client.user(COORDINATOR)).send("/help")
    await client.user(NEWCOMER)  # exists, but never wrote to the bot

    async def call(method: str, **params: Any) -> tuple[int, Any]:
        url = f"{sandbox.url}/bot{TEST_TOKEN}/{method}"
        async with aiohttp.ClientSession() as http, http.post(url, json=params) as response:
            body = await response.json()
            return response.status, body.get("result", body.get("description"))

    one = [{"command": "stats", "description": "Figures"}]
    two = [{"command": "help", "description": "Help"}]
    assert await call("setMyCommands", commands=one, scope={"type": "chat", "chat_id": "9001"})
    assert await call("setMyCommands", commands=two) == (200, True)
    chat = {"type": "chat", "chat_id": COORDINATOR}
    assert await call("getMyCommands", scope=chat) == (200, one)  # "9001" and 9001 are one chat
    assert await call("getMyCommands") == (200, two)
    assert await call("getMyCommands", scope={"type": "all_group_chats"}) == (200, [])
    for unknown in (NEWCOMER, 12345, -100999):
        scope = {"type": "chat", "chat_id": unknown}
        assert await call("setMyCommands", commands=one, scope=scope) == (
            400,
            "Bad Request: chat not found",
        )
    assert sandbox.world.menu(COORDINATOR) == one
    assert sandbox.world.menu(NEWCOMER) == two  # falls back to the default list
    assert await call("deleteMyCommands", scope=chat) == (200, True)
    assert sandbox.world.menu(COORDINATOR) == two
