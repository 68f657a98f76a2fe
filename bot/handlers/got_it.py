"""Did we get it right? The participants' side of "you said, we did".

Every update a coordinator sends (bot/handlers/you_said.py) carries three buttons: Yes, Partly,
No. A press stores the person's verdict (one per person and update; pressing another changes
it) and ticks the chosen button. After Partly or No the bot asks what we missed, as a message
to reply to: a reply to it (words, or a voice note) is stored with the verdict. Anything else
they send goes where it always goes, so nobody is ever stuck answering. Agreement per update
goes to /stats (bot/handlers/coordinators.py); /mydata shows and /delete erases all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from telegram import ForceReply, Update
from telegram.error import BadRequest
from telegram.ext import MessageHandler, filters

from bot.callbacks import Button, parse
from bot.handlers import checkin
from bot.handlers.common import RepliesTo, chat_id_of, consented
from bot.keyboards import got_it_right_keyboard
from bot.services import BotContext
from storage import you_said


def register(app: Any) -> None:
    """The Yes / Partly / No buttons, and replies saying what we missed."""
    app.add_handler(Button.GOT_IT.handler(on_got_it))
    replies = (
        filters.ChatType.PRIVATE
        & filters.UpdateType.MESSAGE
        & (filters.TEXT | filters.VOICE | filters.AUDIO)
        & RepliesTo(app, "got_it.why")
    )
    app.add_handler(MessageHandler(replies, on_reason))


async def on_got_it(update: Update, context: BotContext) -> None:
    """``got:<update id>:<yes|partly|no>``."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed is not None else ()
    if len(args) != 2 or not args[0].isdigit() or args[1] not in you_said.VERDICTS:
        await query.answer(texts("hint.stale"))
        return
    person = await consented(update, context)
    if person is None:
        await query.answer()
        return
    update_id, verdict = int(args[0]), args[1]
    now = context.services.clock.now()
    if not await you_said.record_verdict(context.db, update_id, person.id, verdict, now):
        await query.answer(texts("got_it.gone"))
        return
    await query.answer(texts("got_it.thanks"))
    with contextlib.suppress(BadRequest):  # the same choice again: nothing to change
        await query.edit_message_reply_markup(got_it_right_keyboard(texts, update_id, verdict))
    if verdict != "yes":
        asked = await context.bot.send_message(
            chat_id_of(update),
            texts("got_it.why"),
            reply_markup=ForceReply(input_field_placeholder=texts("got_it.why_placeholder")),
        )
        await you_said.ask_reason(context.db, update_id, person.id, asked.message_id)


async def on_reason(update: Update, context: BotContext) -> None:
    """A reply to "What did we miss?": their words, or a voice note, kept with the verdict."""
    message = update.message
    assert message is not None and message.reply_to_message is not None
    person = await consented(update, context)
    if person is None:
        return
    prompt_id = message.reply_to_message.message_id
    now = context.services.clock.now()
    media = message.voice or message.audio
    name: str | None = None
    if media is not None:
        limit_mb = context.settings.storage.max_file_mb
        name = await checkin.save_voice(context, media.file_id, media.file_size, limit_mb)
        if name is None:
            await context.bot.send_message(
                chat_id_of(update), context.texts("hint.file_too_big", mb=f"{limit_mb:g}")
            )
            return
    replaced = await you_said.record_reason(
        context.db, person.id, prompt_id, now, text=message.text, file_path=name
    )
    folder = context.settings.storage.files_path
    if replaced is None:  # that message asked nothing (any more)
        if name is not None:
            await asyncio.to_thread((folder / name).unlink, True)
        await context.bot.send_message(chat_id_of(update), context.texts("got_it.gone"))
        return
    if replaced:
        await asyncio.to_thread((folder / replaced).unlink, True)
    await context.bot.send_message(chat_id_of(update), context.texts("got_it.reason_thanks"))
