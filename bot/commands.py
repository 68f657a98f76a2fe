"""The command menus Telegram shows: participants' by default, coordinators' where they work.

Participants see :data:`COMMANDS` everywhere (the default scope). Coordinators' commands work in
a listed coordinator's private chat and in the coordinators' chat (:mod:`bot.access`), so their
menu is published there with ``BotCommandScopeChat``: in a coordinator's private chat the
coordinators' commands come first, then the participants' (a coordinator may take part too); in
the coordinators' chat only theirs (participants' commands get the "talk to me privately" note
there). Descriptions come from the locale file (``commands.*`` and ``coordinator_commands.*``).

Published at start-up and again after every reload (``/reload``, the demo's hot reload), when
a chat no longer listed gets its menu deleted. Telegram refusing a list (a coordinator who never
started the bot: "chat not found") is logged, never fatal, and does not stop the other lists.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

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
    "digest",
    "paid",
    "reload",
)
# Chat ids whose coordinators' menu this process published (to delete it when they go).
PUBLISHED_KEY = "coordinator-command-chats"


def participant_menu(texts: Texts) -> list[BotCommand]:
    """The participants' list: the default everywhere."""
    return [BotCommand(name, texts(f"commands.{name}")) for name in COMMANDS]


def coordinator_menu(texts: Texts, *, reload: bool = True) -> list[BotCommand]:
    """The coordinators' own commands (``/reload`` only if there is a config file to reload)."""
    return [
        BotCommand(name, texts(f"coordinator_commands.{name}"))
        for name in COORDINATOR_COMMANDS
        if reload or name != "reload"
    ]


def coordinator_chats(app: Any) -> dict[int, bool]:
    """Each chat that gets the coordinators' menu, and whether it is a private chat."""
    team = services_of(app).settings.coordinators
    chats = {user_id: True for user_id in team.user_ids}
    if team.chat_id is not None:
        chats[team.chat_id] = False
    return chats


async def register_commands(app: Any) -> None:
    """Publish every command list; Telegram being unhappy with one must not stop the bot."""
    services = services_of(app)
    texts = services.texts
    participants = participant_menu(texts)
    try:
        await app.bot.set_my_commands(participants)
    except TelegramError as exc:
        log.warning("could not register the command list: %s", exc)
    theirs = coordinator_menu(texts, reload=services.config_path is not None)
    chats = coordinator_chats(app)
    ids = list(services.settings.coordinators.user_ids)
    before: set[int] = app.bot_data.get(PUBLISHED_KEY, set())
    published: set[int] = set()
    for chat_id, private in chats.items():
        menu = theirs + participants if private else theirs
        try:
            await app.bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))
        except TelegramError as exc:
            # Logs never hold Telegram ids: a coordinator is named by their place in the config.
            where = (
                f"the private chat of coordinator {ids.index(chat_id) + 1} in coordinators."
                "user_ids (have they started the bot?)"
                if private
                else "the coordinators' chat"
            )
            log.warning("could not register the coordinators' commands in %s: %s", where, exc)
            if chat_id not in before:
                continue  # an earlier menu there is still to be removed when they go
        published.add(chat_id)
    for chat_id in sorted(before - chats.keys()):
        try:
            await app.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
        except TelegramError as exc:
            log.warning("could not remove the coordinators' commands in chat %s: %s", chat_id, exc)
            published.add(chat_id)  # tried again after the next reload
    app.bot_data[PUBLISHED_KEY] = published
