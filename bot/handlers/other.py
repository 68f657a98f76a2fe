"""Everything else: groups, edited messages, unknown commands, stale buttons and errors."""

from __future__ import annotations

import logging

from telegram import Update

from bot.handlers.common import chat_id_of
from bot.services import BotContext

log = logging.getLogger(__name__)


async def group_note(update: Update, context: BotContext) -> None:
    """In groups: only a short note to talk privately. Nothing is stored."""
    await context.bot.send_message(chat_id_of(update), context.texts("hint.group"))


async def edited(update: Update, context: BotContext) -> None:
    """Edited messages are not answers; say so kindly."""
    await context.bot.send_message(chat_id_of(update), context.texts("hint.edited"))


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command we do not have."""
    await context.bot.send_message(chat_id_of(update), context.texts("hint.unknown_command"))


async def stale_button(update: Update, context: BotContext) -> None:
    """A button we do not recognise (an old keyboard from an earlier version)."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.texts("hint.stale"))


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure without any message content, and tell the person something went wrong."""
    log.error(
        "error while handling an update: %s",
        type(context.error).__name__,
        exc_info=context.error,
    )
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        try:
            if update.callback_query:
                await update.callback_query.answer(context.texts("error.generic"))
            else:
                await context.bot.send_message(
                    update.effective_chat.id, context.texts("error.generic")
                )
        except Exception:  # the error may be that Telegram is unreachable
            log.warning("could not tell the person about the error")
