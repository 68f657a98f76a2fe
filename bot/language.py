"""Which language each person hears, for the update being handled.

Every update is handled in the language of the person it came from: the one they chose
(stored with their consent, changed with /language or in /settings), or before they chose,
the one their Telegram app is set to when the project offers it, else the project's default.
A handler in group -99 (just after the guard) works it out once per update and keeps it in
:data:`LANGUAGE`, a context variable: python-telegram-bot handles each update in a task of its
own, so one person's language never leaks into another's update. ``context.texts`` and
``context.settings`` read it (bot/services.py).

Messages sent later (nudges, the outbox) carry the person's language from the database.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from babel import Locale, UnknownLocaleError
from telegram import Update
from telegram.ext import TypeHandler

from storage import participants

LANGUAGE: ContextVar[str | None] = ContextVar("everystage_language", default=None)
LANGUAGE_GROUP = -99  # after the guard (-100), before everything else


def register(app: Any) -> None:
    """Work out the language of every update first."""
    app.add_handler(TypeHandler(Update, _choose), group=LANGUAGE_GROUP)


def native_name(language: str) -> str:
    """A language in its own words, as a button says it: "English", "Polski", "العربية"."""
    try:
        name = Locale.parse(language.replace("-", "_")).get_display_name(language) or language
    except (UnknownLocaleError, ValueError):
        return language
    return name[:1].upper() + name[1:]


def suggest(language_code: str | None, offered: list[str]) -> str | None:
    """The offered language a Telegram app's ``language_code`` ("pl", "pt-br") asks for."""
    if not language_code:
        return None
    wanted = language_code.lower().replace("_", "-")
    for candidate in (wanted, wanted.split("-")[0]):
        if candidate in offered:
            return candidate
    return None


def effective(chosen: str | None, offered: list[str]) -> str:
    """The language to use for someone who chose ``chosen`` (the default if it is no longer
    offered, or they never chose)."""
    return chosen if chosen in offered else offered[0]


async def _choose(update: Update, context: Any) -> None:
    services = context.services
    offered = services.settings.project.offered
    language = offered[0]
    chat = update.effective_chat
    if len(offered) > 1 and chat is not None and chat.type == "private":
        found, chosen = await participants.language_at(services.db, chat.id)
        if found:
            language = effective(chosen, offered)
        else:  # not taking part yet: nothing stored, so their app's language, if offered
            user = update.effective_user
            language = suggest(user.language_code if user else None, offered) or language
    LANGUAGE.set(language)
