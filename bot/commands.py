"""The command menus Telegram shows: participants' by default, coordinators' where they work.

Participants see :data:`COMMANDS` everywhere (the default scope). Coordinators' commands work in
a listed coordinator's private chat and in the coordinators' chat (:mod:`bot.access`), so their
menu is published there with ``BotCommandScopeChat``: in a coordinator's private chat the
coordinators' commands come first, then the participants' (a coordinator may take part too); in
the coordinators' chat only theirs (participants' commands get the "talk to me privately" note
there). A peer researcher's private chat gets the team commands their role allows (the
registry's minimum role, :mod:`bot.access`), then the participants'. Descriptions come from the
locale file (``commands.*``, ``coordinator_commands.*`` and ``peer_commands.*``, a peer
researcher's own words where a command does less for them).

Published at start-up and again after every reload (``/reload``, the demo's hot reload), when
a chat no longer listed gets its menu deleted. Telegram refusing a list (a coordinator who never
started the bot: "chat not found") is logged, never fatal, and does not stop the other lists.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from bot import access
from bot.access import Role
from bot.services import services_of
from bot.texts import Texts

log = logging.getLogger(__name__)

COMMANDS = (
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
)
COORDINATOR_COMMANDS = (
    "stats",
    "stage",
    "ask",
    "share",
    "update",
    "decide",
    "alerts",
    "listen",
    "digest",
    "paid",
    "reload",
)
# Chat ids whose coordinators' menu this process published (to delete it when they go).
PUBLISHED_KEY = "coordinator-command-chats"


def participant_menu(texts: Texts, languages: int = 1) -> list[BotCommand]:
    """The participants' list: the default everywhere (/language when there is a choice)."""
    names = [*COMMANDS[:-2], "language", *COMMANDS[-2:]] if languages > 1 else COMMANDS
    return [BotCommand(name, texts(f"commands.{name}")) for name in names]


def team_menu(texts: Texts, role: Role, *, reload: bool = True) -> list[BotCommand]:
    """The team's commands ``role`` may use (``/reload`` only if there is a config file)."""
    words = "coordinator_commands" if role is Role.COORDINATOR else "peer_commands"
    return [
        BotCommand(name, texts(f"{words}.{name}"))
        for name in COORDINATOR_COMMANDS
        if access.COMMANDS[name].role <= role and (reload or name != "reload")
    ]


def coordinator_menu(texts: Texts, *, reload: bool = True) -> list[BotCommand]:
    """The coordinators' own commands (``/reload`` only if there is a config file to reload)."""
    return team_menu(texts, Role.COORDINATOR, reload=reload)


def coordinator_chats(app: Any) -> dict[int, tuple[Role, bool]]:
    """Each chat that gets a team menu: the role it is for, and whether it is private."""
    settings = services_of(app).settings
    team = settings.coordinators
    chats = {user_id: (Role.PEER_RESEARCHER, True) for user_id in settings.team.peer_researchers}
    chats |= {user_id: (Role.COORDINATOR, True) for user_id in team.user_ids}
    if team.chat_id is not None:
        chats[team.chat_id] = (Role.COORDINATOR, False)
    return chats


async def register_commands(app: Any) -> None:
    """Publish every command list; Telegram being unhappy with one must not stop the bot."""
    services = services_of(app)
    texts = services.texts
    offered = services.settings.project.offered
    participants = participant_menu(texts, len(offered))
    try:
        await app.bot.set_my_commands(participants)
        # Telegram shows people whose app is set to one of the other languages its own list.
        for language in offered[1:]:
            await app.bot.set_my_commands(
                participant_menu(services.texts_in(language), len(offered)),
                language_code=language,
            )
    except TelegramError as exc:
        log.warning("could not register the command list: %s", exc)
    reload = services.config_path is not None
    chats = coordinator_chats(app)
    ids = list(services.settings.coordinators.user_ids)
    peers = list(services.settings.team.peer_researchers)
    before: set[int] = app.bot_data.get(PUBLISHED_KEY, set())
    published: set[int] = set()
    for chat_id, (role, private) in chats.items():
        theirs = team_menu(texts, role, reload=reload)
        menu = theirs + participants if private else theirs
        try:
            await app.bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
        except TelegramError as exc:
            # Logs never hold Telegram ids: a person is named by their place in the config.
            if not private:
                where = "the coordinators' chat"
            elif role is Role.COORDINATOR:
                where = (
                    f"the private chat of coordinator {ids.index(chat_id) + 1} in coordinators."
                    "user_ids (have they started the bot?)"
                )
            else:
                where = (
                    f"the private chat of peer researcher {peers.index(chat_id) + 1} in team."
                    "peer_researchers (have they started the bot?)"
                )
            log.warning("could not register the team's commands in %s: %s", where, exc)
            if chat_id not in before:
                continue  # an earlier menu there is still to be removed when they go
        published.add(chat_id)
    for chat_id in sorted(before - chats.keys()):
        try:
            await app.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
        except TelegramError as exc:
            log.warning("could not remove the team's commands in a chat no longer listed: %s", exc)
            published.add(chat_id)  # tried again after the next reload
    app.bot_data[PUBLISHED_KEY] = published
