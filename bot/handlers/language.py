"""/language and the language buttons: people choose the language the bot talks to them in.

Before they agree to take part nothing is stored: a language button under the consent message
shows it again in that language, and the consent buttons carry the choice until "Yes" (which
stores it with their consent). Afterwards the choice is stored at once and every message from
then on (nudges and news included) is in it. Their answers are kept with the language they
were given in; questions keep one id across languages, so figures add up across them.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import CommandHandler

from bot.callbacks import Button, parse
from bot.handlers.common import PRIVATE_NEW, chat_id_of, show_consent
from bot.keyboards import language_keyboard
from bot.language import LANGUAGE, native_name
from bot.services import BotContext
from storage import participants

PICK = "-"  # lang:- opens the list (from /settings)


def register(app: Any) -> None:
    """/language and the language buttons."""
    app.add_handler(CommandHandler("language", language_command, filters=PRIVATE_NEW))
    app.add_handler(Button.LANGUAGE.handler(on_language))


async def language_command(update: Update, context: BotContext) -> None:
    """``/language``: the languages on offer, the current one ticked."""
    await _offer(chat_id_of(update), context)


async def _offer(chat_id: int, context: BotContext) -> None:
    offered = context.settings.project.offered
    if len(offered) == 1:
        await context.bot.send_message(
            chat_id, context.texts("language.only_one", language=native_name(offered[0]))
        )
        return
    await context.bot.send_message(
        chat_id,
        context.texts("language.choose"),
        reply_markup=language_keyboard(offered, context.language),
    )


async def on_language(update: Update, context: BotContext) -> None:
    """``lang:<language>[:<invite code>]``, or ``lang:-`` for the list."""
    query = update.callback_query
    assert query is not None
    pressed = parse(query.data)
    chosen = pressed.arg(0) if pressed else ""
    chat_id = chat_id_of(update)
    if chosen == PICK:
        await query.answer()
        await _offer(chat_id, context)
        return
    if chosen not in context.settings.project.offered:
        await query.answer(context.texts("hint.stale"))
        return
    LANGUAGE.set(chosen)  # everything from here on, this answer included, in their choice
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        # Not taking part yet: nothing is stored; the consent again, in the language chosen.
        await query.answer()
        code = pressed.arg(1) if pressed else ""
        await show_consent(chat_id, context, code=code or None)
        return
    await participants.set_language(context.db, person.id, chosen)
    await query.answer()
    await context.bot.send_message(
        chat_id, context.texts("language.set", language=native_name(chosen))
    )
