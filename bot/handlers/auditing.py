"""Who someone is, for the handlers, and the audit of what the team does.

Where each command and button works, and the polite refusal for everyone else (audited, never
with their id), is decided once for every update by the guard (:mod:`bot.access`,
:mod:`bot.handlers.guard`). Handlers ask the same functions here: :func:`role_here` (the
person's role in this chat, from :func:`bot.access.role_of`) and :func:`may` (the guard's own
decision for a command or button). :func:`team_only` writes each allowed use of a team command
or button to the audit log (who, what, when; never the content).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.access import Kind, Role, decide, entry, role_of
from bot.callbacks import Button
from bot.services import BotContext
from storage import audit

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Awaitable[Any]]


def role_here(update: Update, context: BotContext) -> Role:
    """The person's role in the chat this update came from (:func:`bot.access.role_of`)."""
    user = update.effective_user
    chat = update.effective_chat
    return role_of(
        chat.type if chat else None,
        chat.id if chat else None,
        user.id if user else None,
        context.settings,
    )


def _named(what: str | Button) -> tuple[Kind, str]:
    return (Kind.BUTTON, what.prefix) if isinstance(what, Button) else (Kind.COMMAND, what)


def may(update: Update, context: BotContext, what: str | Button) -> bool:
    """Whether this person may use this command (by name) or button here: the guard's answer."""
    user = update.effective_user
    chat = update.effective_chat
    kind, name = _named(what)
    return decide(
        kind,
        name,
        chat.type if chat else None,
        chat.id if chat else None,
        user.id if user else None,
        context.settings,
    ).allowed


def actor_of(update: Update) -> str:
    """How a team member appears in the audit log: their Telegram user id."""
    user = update.effective_user
    return str(user.id) if user else "unknown"


def team_only(what: str | Button) -> Callable[[Handler], Handler]:
    """Audit a team member's use of a command (by name) or button, under the action the
    registry names (the guard has already refused everyone else).

    If the guard was somehow bypassed, fail closed: do nothing and log it.
    """
    kind, name = _named(what)
    found = entry(kind, name)
    if found is None or found.role is Role.PARTICIPANT:
        raise ValueError(f"{kind.value} {name} is not a team command or button in bot.access")
    action = found.action

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: BotContext) -> Any:
            if not may(update, context, what):
                log.error("access: %s reached its handler without the guard; ignored", action)
                return None
            now = context.services.clock.now()
            await audit.record(context.db, actor_of(update), action, True, now)
            return await handler(update, context)

        return guarded

    return wrap
