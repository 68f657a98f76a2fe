"""/suggest: a participant proposes a question, a topic or a change; the team answers.

``/suggest more hot meals at the weekend`` stores it at once; ``/suggest`` alone asks for it,
as a message to reply to. The suggestion goes to the coordinators' chat (or, without one, to
each listed coordinator) and to each peer researcher, under the person's code name, never their
name, with three buttons: Adopt, Not now, Reply (anyone on the team may triage). Adopt and Not
now tell the person what happened (through the outbox: once, quiet hours respected); Reply asks
for a reply to send them as written.
The person sees their suggestions in /mydata, and /delete erases them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import outreach
from bot.access import Role, team_chats
from bot.callbacks import Button, parse
from bot.handlers import coordinators
from bot.handlers.auditing import may, team_only
from bot.handlers.common import PRIVATE_NEW, RepliesTo, chat_id_of, consented, may_answer
from bot.services import BotContext
from storage import participants, suggestions

log = logging.getLogger(__name__)

MAX_CHARS = 1000
ADOPT, NOT_NOW, REPLY = "adopt", "later", "reply"
VOTE, ASK = "vote", "ask"  # an adopted suggestion put to a vote, or a check-in sent now
STATUS_OF = {ADOPT: "adopted", NOT_NOW: "not_now"}


def register(app: Any) -> None:
    """/suggest, the replies that carry a suggestion or a coordinator's answer, the buttons."""
    app.add_handler(CommandHandler("suggest", suggest_command, filters=PRIVATE_NEW))
    words = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & words & RepliesTo(app, "suggest.ask"), on_suggestion
        )
    )
    app.add_handler(MessageHandler(words & RepliesTo(app, "suggest.reply_prompt"), on_answer))
    app.add_handler(Button.SUGGESTION.handler(on_button))


async def suggest_command(update: Update, context: BotContext) -> None:
    """``/suggest WORDS`` stores them; ``/suggest`` asks for them."""
    person = await participants.by_chat(context.db, chat_id_of(update))
    if person is not None and person.status == "stopped":
        # They chose to hear nothing more; a suggestion would need an answer.
        await context.bot.send_message(chat_id_of(update), context.texts("suggest.stopped"))
        return
    if not await may_answer(update, context, person) or person is None:
        return
    words = " ".join(context.args or []).strip()
    if not words:
        await context.bot.send_message(
            chat_id_of(update),
            context.texts("suggest.ask"),
            reply_markup=ForceReply(input_field_placeholder=context.texts("suggest.placeholder")),
        )
        return
    await _store(update, context, person.id, words)


async def on_suggestion(update: Update, context: BotContext) -> None:
    """A reply to "What would you like to suggest?"."""
    assert update.message is not None and update.message.text is not None
    person = await consented(update, context)
    if person is not None:
        await _store(update, context, person.id, update.message.text)


async def _store(update: Update, context: BotContext, participant_id: str, words: str) -> None:
    texts = context.texts
    number = await suggestions.add(
        context.db, participant_id, words[:MAX_CHARS], context.services.clock.now()
    )
    await context.bot.send_message(chat_id_of(update), texts("suggest.thanks"))
    found = await suggestions.get(context.db, number)
    assert found is not None
    await _tell_team(context, found)


def _team_keyboard(context: BotContext, number: int, status: str = "new") -> InlineKeyboardMarkup:
    texts = context.texts
    if status == "adopted":  # what the team does with it next, in one step
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        texts("suggest.to_vote"), callback_data=Button.SUGGESTION.data(number, VOTE)
                    ),
                    InlineKeyboardButton(
                        texts("suggest.to_ask"), callback_data=Button.SUGGESTION.data(number, ASK)
                    ),
                ],
                [
                    InlineKeyboardButton(
                        texts("suggest.not_now"),
                        callback_data=Button.SUGGESTION.data(number, NOT_NOW),
                    ),
                    InlineKeyboardButton(
                        texts("suggest.reply"), callback_data=Button.SUGGESTION.data(number, REPLY)
                    ),
                ],
            ]
        )
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("suggest.adopt"), callback_data=Button.SUGGESTION.data(number, ADOPT)
                ),
                InlineKeyboardButton(
                    texts("suggest.not_now"),
                    callback_data=Button.SUGGESTION.data(number, NOT_NOW),
                ),
            ],
            [
                InlineKeyboardButton(
                    texts("suggest.reply"), callback_data=Button.SUGGESTION.data(number, REPLY)
                )
            ],
        ]
    )


async def _tell_team(context: BotContext, found: suggestions.Suggestion) -> None:
    """To the coordinators' chat (or each listed coordinator) and each peer researcher; a
    failure is logged only (the suggestion is stored)."""
    chats = team_chats(context.settings, Role.PEER_RESEARCHER)
    text = context.texts(
        "suggest.for_team", number=found.id, pseudonym=found.pseudonym, text=found.text
    )
    for chat in chats:
        try:
            await context.bot.send_message(
                chat, text, reply_markup=_team_keyboard(context, found.id)
            )
        except TelegramError as exc:
            log.warning("suggestion %d could not be shown to the team: %s", found.id, exc.message)


@team_only(Button.SUGGESTION)
async def on_button(update: Update, context: BotContext) -> None:
    """``sug:<number>:<adopt|later|reply|vote|ask>`` and ``sug:<number>:ask:<check-in>``."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed is not None else ()
    actions = (ADOPT, NOT_NOW, REPLY, VOTE, ASK)
    if not 2 <= len(args) <= 3 or not args[0].isdigit() or args[1] not in actions:
        await query.answer(texts("hint.stale"))
        return
    number, action = int(args[0]), args[1]
    found = await suggestions.get(context.db, number)
    if found is None:
        await query.answer(texts("suggest.gone"))
        return
    if action == VOTE:
        await query.answer()
        await context.bot.send_message(
            chat_id_of(update),
            texts("suggest.vote_prompt", number=number, text=found.text),
            reply_markup=ForceReply(selective=True),
        )
        return
    if action == ASK:
        if not may(update, context, "ask"):  # sending a check-in is a coordinator's to do
            await query.answer(texts("admin.refused"))
            return
        await _ask(update, context, query, found, args[2] if len(args) == 3 else None)
        return
    if action == REPLY:
        await query.answer()
        asked = await context.bot.send_message(
            chat_id_of(update),
            texts("suggest.reply_prompt", number=number),
            reply_markup=ForceReply(selective=True),
        )
        await suggestions.ask_answer(context.db, number, asked.message_id)
        return
    status = STATUS_OF[action]
    changed = await suggestions.decide(
        context.db,
        number,
        status,
        context.services.clock.now(),
        key=f"suggestion:{number}:{status}",
        message=lambda language: context.services.texts_in(language)(
            f"suggest.told_{status}", text=found.text
        ),
    )
    await query.answer(texts(f"suggest.done_{status}") if changed else texts("suggest.already"))
    if changed:
        with_status = texts(
            f"suggest.team_{status}", number=number, pseudonym=found.pseudonym, text=found.text
        )
        with contextlib.suppress(BadRequest):  # pressed twice quickly: already says so
            await query.edit_message_text(
                with_status, reply_markup=_team_keyboard(context, number, status)
            )
        context.application.create_task(outreach.tick(context.application))


async def _ask(
    update: Update,
    context: BotContext,
    query: Any,
    found: suggestions.Suggestion,
    index: str | None,
) -> None:
    """Which check-in to send now about an adopted suggestion; then send it (once per
    suggestion and check-in, however often pressed)."""
    texts, checkins = context.texts, context.settings.checkins
    if index is None:
        await query.answer()
        rows = [
            [InlineKeyboardButton(c.title, callback_data=Button.SUGGESTION.data(found.id, ASK, n))]
            for n, c in enumerate(checkins)
        ]
        await context.bot.send_message(
            chat_id_of(update),
            texts("suggest.ask_which", number=found.id),
            reply_markup=InlineKeyboardMarkup(rows),
        )
        return
    if not index.isdigit() or int(index) >= len(checkins):
        await query.answer(texts("hint.stale"))
        return
    await query.answer()
    checkin = checkins[int(index)]
    await coordinators.ask_now(
        context, chat_id_of(update), checkin, f"ask:suggestion:{found.id}:{checkin.id}"
    )


async def on_answer(update: Update, context: BotContext) -> None:
    """A team member's reply to "Your reply to suggestion #N": sent to the person."""
    message = update.message
    assert message is not None and message.text is not None
    assert message.reply_to_message is not None
    if not may(update, context, Button.SUGGESTION):
        return
    number = await suggestions.answer(
        context.db,
        message.reply_to_message.message_id,
        message.text,
        context.services.clock.now(),
        message=lambda language: context.services.texts_in(language)(
            "suggest.told_answer", answer=message.text
        ),
    )
    if number is None:
        return
    await context.bot.send_message(
        chat_id_of(update), context.texts("suggest.answer_sent", number=number)
    )
    context.application.create_task(outreach.tick(context.application))
