"""Coordinators' commands: who counts as a coordinator, and the audit of what they do.

Where each command and button works, and the polite refusal for everyone else (audited, never
with their id), is decided once for every update by the guard (:mod:`bot.access`,
:mod:`bot.handlers.guard`). :func:`coordinator_only` writes each allowed use to the audit log
(who, what, when; never the content). Coordinators are the Telegram user ids in
``coordinators.user_ids`` in their private chat with the bot; anyone in the coordinators' group
chat (``coordinators.chat_id``) counts too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.access import is_coordinator_here
from bot.services import BotContext
from storage import audit

log = logging.getLogger(__name__)

Handler = Callable[[Update, BotContext], Awaitable[Any]]


def is_coordinator(update: Update, context: BotContext) -> bool:
    """A listed coordinator in their private chat, or anyone writing in the coordinators' chat.

    A listed coordinator writing in any other group does not count there.
    """
    user = update.effective_user
    chat = update.effective_chat
    return is_coordinator_here(
        chat.type if chat else None,
        chat.id if chat else None,
        user.id if user else None,
        context.settings.coordinators,
    )


def actor_of(update: Update) -> str:
    """How a coordinator appears in the audit log: their Telegram user id."""
    user = update.effective_user
    return str(user.id) if user else "unknown"


def coordinator_only(action: str) -> Callable[[Handler], Handler]:
    """Audit a coordinator's use (the guard has already refused everyone else).

    If the guard was somehow bypassed, fail closed: do nothing and log it.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: BotContext) -> Any:
            if not is_coordinator(update, context):
                log.error("access: %s reached its handler without the guard; ignored", action)
                return None
            now = context.services.clock.now()
            await audit.record(context.db, actor_of(update), action, True, now)
            return await handler(update, context)

        return guarded

    return wrap
