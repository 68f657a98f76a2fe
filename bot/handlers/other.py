"""Everything else: groups, edited messages, unknown commands, stale buttons and errors."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.delivery import TROUBLE, Outcome, outcome_of
from bot.handlers.common import PRIVATE_NEW, chat_id_of
from bot.services import BotContext
from storage.inbox import HANDLING

log = logging.getLogger(__name__)
PRIVATE = filters.ChatType.PRIVATE


async def group_note(update: Update, context: BotContext) -> None:
    """In groups: only a short note to talk privately. Nothing is stored.

    In the coordinators' chat only commands get it: plain text there (a mention included) is
    only for a coordinator's open /update draft.
    """
    chat_id = chat_id_of(update)
    message = update.effective_message
    if chat_id == context.settings.coordinators.chat_id and not _is_command(message):
        return
    await context.bot.send_message(chat_id, context.texts("hint.group"))


def _is_command(message: Message | None) -> bool:
    if message is None or not message.entities:
        return False
    first = message.entities[0]
    return first.type == MessageEntity.BOT_COMMAND and first.offset == 0


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
    """Record the failure (the update is skipped, never retried in a loop), log it without any
    message content, and tell the person something went wrong."""
    error = context.error
    handling = HANDLING.get()
    if (
        handling is not None
        and isinstance(update, Update)
        and handling.update_id == update.update_id
    ):
        handling.error = type(error).__name__
    if isinstance(error, TelegramError) and outcome_of(error) in (
        Outcome.NOT_SENT,
        Outcome.UNCERTAIN,
    ):
        # Telegram trouble (a 429 storm, an outage) is not a bug: one line, no traceback, and
        # telling the person would only fail the same way.
        TROUBLE.note(type(error).__name__, "a reply (the update was skipped)")
        return
    log.error(
        "error while handling an update: %s",
        type(error).__name__,
        exc_info=error,
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


def register(app: Any) -> None:
    """Last, after every feature: what no feature took (see bot/app.py for the order)."""
    groups, new = filters.ChatType.GROUPS, filters.UpdateType.MESSAGE
    # Groups: a short note for commands and mentions, nothing stored, nothing else.
    app.add_handler(
        MessageHandler(groups & new & (filters.COMMAND | filters.Entity("mention")), group_note)
    )
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & PRIVATE, edited))
    app.add_handler(MessageHandler(PRIVATE_NEW & filters.COMMAND, unknown_command))
    app.add_handler(CallbackQueryHandler(stale_button))  # a button no feature knows
    app.add_error_handler(on_error)  # type: ignore[arg-type]
