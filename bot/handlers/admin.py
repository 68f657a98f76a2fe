"""Coordinators' commands, guarded: anyone else gets a polite refusal that reveals nothing.

Every command, allowed or refused, is written to the audit log (who, what, when; never the
content). Coordinators are the Telegram user ids in ``coordinators.user_ids``; anyone in the
coordinators' group chat (``coordinators.chat_id``) counts too.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.handlers.common import chat_id_of
from bot.services import BotContext
from storage import admin

Handler = Callable[[Update, BotContext], Awaitable[Any]]


def is_coordinator(update: Update, context: BotContext) -> bool:
    """A listed coordinator, or anyone writing in the coordinators' chat."""
    team = context.settings.coordinators
    user = update.effective_user
    chat = update.effective_chat
    if user is not None and user.id in team.user_ids:
        return True
    return chat is not None and team.chat_id is not None and chat.id == team.chat_id


def actor_of(update: Update) -> str:
    """How a coordinator appears in the audit log: their Telegram user id."""
    user = update.effective_user
    return str(user.id) if user else "unknown"


def coordinator_only(action: str) -> Callable[[Handler], Handler]:
    """Refuse (politely, revealing nothing) and audit anyone else; audit coordinators too."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: BotContext) -> Any:
            now = context.services.clock.now()
            if not is_coordinator(update, context):
                # A participant's id is never written down; only that a refusal happened.
                await admin.audit(context.db, "refused", action, False, now)
                if update.callback_query:
                    await update.callback_query.answer(context.texts("admin.refused"))
                else:
                    await context.bot.send_message(
                        chat_id_of(update), context.texts("admin.refused")
                    )
                return None
            await admin.audit(context.db, actor_of(update), action, True, now)
            return await handler(update, context)

        return guarded

    return wrap
