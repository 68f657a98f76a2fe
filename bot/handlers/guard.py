"""The one gate every update passes before any feature: see :mod:`bot.access` for the policy.

Registered first, in handler group -100 (like middleware), as a ``TypeHandler(Update, ...)``.
It lets through what :func:`bot.access.decide` allows and stops everything else with
``ApplicationHandlerStop``, after replying (a short note or toast) and auditing refusals of
the team's features. If anything goes wrong while refusing, the update is still stopped:
the gate fails closed.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.access import Decision, Kind, decide
from bot.services import BotContext
from storage import audit

log = logging.getLogger(__name__)

GUARD_GROUP = -100


def register(app: Any) -> None:
    """Add the gate, before every other handler."""
    app.add_handler(TypeHandler(Update, guard), group=GUARD_GROUP)


def command_of(message: Message, bot_username: str | None) -> str | None:
    """The command a message starts with, as python-telegram-bot's CommandHandler reads it.

    ``/Stats@EverystageBot now`` is ``stats``; a command addressed to another bot is None.
    """
    entities = message.entities
    text = message.text
    if not text or not entities:
        return None
    first = entities[0]
    if first.type != MessageEntity.BOT_COMMAND or first.offset != 0:
        return None
    name, _, addressee = text[1 : first.length].partition("@")
    if addressee and (bot_username is None or addressee.lower() != bot_username.lower()):
        return None
    return name.lower()


def button_of(data: str | None) -> str | None:
    """A button's prefix: its callback data up to the first ':'."""
    return data.split(":", 1)[0] if data else None


async def guard(update: Update, context: BotContext) -> None:
    """Allow, or refuse and stop. Raises ApplicationHandlerStop for everything it stops."""
    try:
        decision = _classify_and_decide(update, context)
    except Exception as exc:
        # No content, no ids: only that it failed. Nothing goes further.
        log.error("access: could not classify an update: %s", type(exc).__name__, exc_info=exc)
        raise ApplicationHandlerStop from None
    if decision is None or decision.allowed:
        return
    try:
        await _refuse(update, context, decision)
    except Exception as exc:
        log.error("access: refusing failed: %s", type(exc).__name__, exc_info=exc)
    raise ApplicationHandlerStop


def _classify_and_decide(update: Update, context: BotContext) -> Decision | None:
    """A decision for a command or button; None to let a plain message through."""
    chat = update.effective_chat
    user = update.effective_user
    user_id = user.id if user is not None else None
    query = update.callback_query
    if query is not None:
        if chat is None:  # a button on an inline message: not one of ours
            return Decision(False, "hint.stale")
        name = button_of(query.data)
        if name is None:
            return None
        return decide(Kind.BUTTON, name, chat.type, chat.id, user_id, context.settings)
    message = update.message or update.edited_message
    if message is None or chat is None:
        # Inline queries, polls, chat member updates, channel posts...: no feature takes them.
        return Decision(False)
    name = command_of(message, context.bot.username)
    if name is None:
        return None
    return decide(Kind.COMMAND, name, chat.type, chat.id, user_id, context.settings)


async def _refuse(update: Update, context: BotContext, decision: Decision) -> None:
    if decision.audit is not None:
        # Never the person's id: only that a refusal happened, and of what.
        now = context.services.clock.now()
        await audit.record(context.db, "refused", decision.audit, False, now)
    query = update.callback_query
    if query is not None:
        text = context.texts(decision.reply) if decision.reply else None
        try:
            await query.answer(text)
        except TelegramError as exc:  # too old, most likely: nothing else to do
            log.info("access: could not answer a refused button: %s", exc.message)
        return
    chat = update.effective_chat
    if decision.reply is not None and chat is not None:
        await context.bot.send_message(chat.id, context.texts(decision.reply))
