"""/listen: a coordinator hears the voice notes nobody has heard yet, one at a time.

Every voice-note answer waits in the listen queue (:mod:`storage.listens`) until someone hears
it, so a spoken "I want to end it all" reaches a person even with transcription off or failing.
``/listen`` (a coordinator, in a private chat only: voice notes are never played in the group)
sends the oldest unheard note, held for that coordinator a while so two never get the same one,
captioned with the person's code name, the check-in and question, how long ago it came and any
words already kept, never their name or Telegram id. Three buttons say what they heard:

- **Heard, fine**: recorded; the note leaves the queue.
- **Needs follow-up**: recorded, and a safeguarding alert raised through the same flow as a
  typed answer's (:func:`bot.handlers.safeguarding.raise_alert`: no words unless
  ``share_text_in_alerts``).
- **Type what they said**: a message to reply to; the reply (taken in group -3, before a draft,
  the safeguarding screen and the participants' handlers) is kept as the note's words, marked
  as a coordinator's (:func:`storage.listens.write_down`), and screened like a typed answer: a
  match raises an alert.

What was chosen shows on the buttons; a second press, or a second coordinator, is told someone
already did and nothing more is recorded (one conditional UPDATE). Each outcome offers the next
note. The prompt to reply to carries the note's number, so a restart or another worker loses
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, CommandHandler, MessageHandler, filters

from bot.access import PRIVATE
from bot.callbacks import Button, parse
from bot.handlers import safeguarding
from bot.handlers.auditing import actor_of, may, team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext, services_of
from bot.settings import Settings
from bot.texts import Texts
from storage import listens
from storage.listens import Note

log = logging.getLogger(__name__)

TYPED_GROUP = -3  # before /update drafts (-2), the safeguarding screen (-1) and answers (0)
FINE, FOLLOW_UP, TYPE, NEXT = "fine", "follow", "type", "next"
_OUTCOMES = {FINE: "fine", FOLLOW_UP: "follow_up"}
_CAPTION = 1024  # Telegram's limit for a caption
_QUOTED = 300  # characters of a question or of words kept, in a caption
_NUMBER = re.compile(r"#(\d+)")


class _RepliesToPrompt(filters.MessageFilter):
    """A reply to the bot's "Type what they said in voice note #N" in any offered language
    (a coordinator hears the bot in the language of their Telegram app)."""

    def __init__(self, app: Any) -> None:
        super().__init__(name="replies to listen.type_now")
        self._app = app

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or not replied.from_user.is_bot:
            return False
        services = services_of(self._app)
        return bool(replied.text) and any(
            replied.text.startswith(services.texts_in(language)("listen.type_now").split("{")[0])
            for language in services.settings.project.offered
        )


def register(app: Any) -> None:
    """/listen, its buttons, and the replies with what a coordinator heard."""
    new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("listen", listen_command, filters=new))
    app.add_handler(Button.LISTEN.handler(on_button))
    typed = filters.ChatType.PRIVATE & new & filters.TEXT & ~filters.COMMAND
    app.add_handler(MessageHandler(typed & _RepliesToPrompt(app), on_typed), group=TYPED_GROUP)


@team_only("listen")
async def listen_command(update: Update, context: BotContext) -> None:
    """/listen: the next voice note nobody has heard, in a private chat only."""
    chat = update.effective_chat
    if chat is None or chat.type != PRIVATE:
        await context.bot.send_message(chat_id_of(update), context.texts("listen.private_only"))
        return
    await send_next(context, chat.id, actor_of(update))


async def send_next(context: BotContext, chat_id: int, coordinator: str) -> None:
    """Hand the oldest unheard voice note to ``coordinator`` and play it to them."""
    texts = context.texts
    note = await listens.next_for(context.db, coordinator, context.services.clock.now())
    if note is None:
        await context.bot.send_message(chat_id, texts("listen.none"))
        return
    path = context.settings.storage.files_path / note.file_path
    audio = await asyncio.to_thread(_read, path)
    caption = caption_text(texts, context.settings, note, context.services.clock.now())
    keyboard = _choices(texts, note.answer_id)
    if audio is None:  # the answer is kept but its file is not: still let them settle it
        log.warning("listen: the file of voice note %d is missing", note.answer_id)
        await context.bot.send_message(
            chat_id, f"{caption}\n\n{texts('listen.no_audio')}", reply_markup=keyboard
        )
        return
    await context.bot.send_voice(
        chat_id,
        audio,
        caption=caption,
        duration=round(note.voice_seconds) if note.voice_seconds else None,
        reply_markup=keyboard,
    )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _clip(text: str, limit: int = _QUOTED) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def caption_text(texts: Texts, settings: Settings, note: Note, now: datetime) -> str:
    """Code name, check-in and question, how long ago, words kept: never a name or an id."""
    checkin = settings.checkin(note.checkin_id)
    title = checkin.title if checkin is not None else note.checkin_id
    question = next(
        (q for q in (checkin.questions if checkin else []) if q.id == note.question_id), None
    )
    lines = [
        texts(
            "listen.note",
            pseudonym=note.pseudonym,
            where=texts("alerts.where_checkin", title=title, question=note.question_id),
            age=safeguarding.age_text(texts, now, note.queued_at),
        )
    ]
    if question is not None:
        lines.append(texts("listen.asked", question=_clip(question.text)))
    if note.transcript:
        lines.append(texts("listen.words", text=_clip(note.transcript)))
    return "\n".join(lines)[:_CAPTION]


def _button(text: str, *args: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=Button.LISTEN.data(*args))


def _choices(texts: Texts, answer_id: int, typing: bool = False) -> InlineKeyboardMarkup:
    """The three choices (with "Type what they said" ticked while its reply is awaited)."""
    typed = ("✔ " if typing else "") + texts("listen.type")
    return InlineKeyboardMarkup(
        [
            [
                _button(texts("listen.fine"), answer_id, FINE),
                _button(texts("listen.follow_up"), answer_id, FOLLOW_UP),
            ],
            [_button(typed, answer_id, TYPE)],
        ]
    )


def _chosen(texts: Texts, answer_id: int, choice: str, more: int) -> InlineKeyboardMarkup:
    """What was chosen (pressing it again says it is done), and "Next" while more wait."""
    label = texts("listen.fine" if choice == FINE else "listen.follow_up")
    rows = [[_button(f"✔ {label}", answer_id, choice)]]
    if more:
        rows.append([_button(texts("listen.next"), NEXT)])
    return InlineKeyboardMarkup(rows)


def _next_keyboard(texts: Texts, more: int) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup([[_button(texts("listen.next"), NEXT)]]) if more else None


def _more_text(texts: Texts, more: int) -> str:
    return texts("listen.more", count=more) if more else texts("listen.last")


@team_only(Button.LISTEN)
async def on_button(update: Update, context: BotContext) -> None:
    """``listen:<answer>:<fine|follow|type>`` and ``listen:next``."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    chat = update.effective_chat
    if chat is None or chat.type != PRIVATE:
        await query.answer(texts("listen.private_only"), show_alert=True)
        return
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    if args == (NEXT,):
        await query.answer()
        await _drop_next(query)
        await send_next(context, chat.id, actor_of(update))
        return
    if len(args) != 2 or not args[0].isdigit() or args[1] not in (FINE, FOLLOW_UP, TYPE):
        await query.answer(texts("hint.stale"))
        return
    answer_id, choice = int(args[0]), args[1]
    note = await listens.note(context.db, answer_id)
    if note is None:
        await query.answer(texts("listen.gone"), show_alert=True)
        await _quietly(query.edit_message_reply_markup(None))
        return
    if choice == TYPE:
        if note.heard_by is not None:
            await query.answer(texts("listen.already"), show_alert=True)
            return
        await query.answer()
        await _quietly(query.edit_message_reply_markup(_choices(texts, answer_id, typing=True)))
        await context.bot.send_message(
            chat.id,
            texts("listen.type_now", number=answer_id),
            reply_markup=ForceReply(input_field_placeholder=texts("listen.type")),
        )
        return
    now = context.services.clock.now()
    if not await listens.hear(context.db, answer_id, actor_of(update), _OUTCOMES[choice], now):
        await query.answer(texts("listen.already"), show_alert=True)
        return
    log.info("listen: voice note %d heard (%s)", answer_id, _OUTCOMES[choice])
    heard = "listen.heard_fine"
    if choice == FOLLOW_UP:
        heard = "listen.heard_follow_up"
        await _alert(context, note, texts("listen.category"), note.transcript)
    more = (await listens.waiting(context.db)).count
    await query.answer(f"{texts(heard)} {_more_text(texts, more)}")
    await _quietly(query.edit_message_reply_markup(_chosen(texts, answer_id, choice, more)))


async def on_typed(update: Update, context: BotContext) -> None:
    """A coordinator's reply with what they heard: kept as the note's words, and screened."""
    message = update.message
    assert message is not None and message.reply_to_message is not None
    found = _NUMBER.search(message.reply_to_message.text or "")
    if found is None or not message.text or not may(update, context, "listen"):
        return  # not ours after all: handled as usual
    texts, chat_id = context.texts, chat_id_of(update)
    answer_id, coordinator = int(found.group(1)), actor_of(update)
    note = await listens.note(context.db, answer_id)
    if note is None:
        await context.bot.send_message(chat_id, texts("listen.gone"))
        raise ApplicationHandlerStop
    if note.heard_by not in (None, coordinator):
        await context.bot.send_message(chat_id, texts("listen.already"))
        raise ApplicationHandlerStop
    words = message.text.strip()
    now = context.services.clock.now()
    if not await listens.write_down(context.db, answer_id, words, coordinator, now):
        await context.bot.send_message(chat_id, texts("listen.gone"))
        raise ApplicationHandlerStop
    log.info("listen: words typed for voice note %d", answer_id)
    reply = [texts("listen.written")]
    category = safeguarding.matcher(context).match(words)
    if category is not None:
        await _alert(context, note, category, words)
        reply.append(texts("listen.written_alert"))
    more = (await listens.waiting(context.db)).count
    reply.append(_more_text(texts, more))
    await context.bot.send_message(
        chat_id, "\n\n".join(reply), reply_markup=_next_keyboard(texts, more)
    )
    # Nothing else sees it: not a draft, not the coordinator's own answer, and the screen must
    # not offer them support for the words they wrote down for someone else.
    raise ApplicationHandlerStop


async def _alert(context: BotContext, note: Note, category: str, words: str | None) -> None:
    await safeguarding.raise_alert(
        context,
        note.participant_id,
        category,
        context.services.clock.now(),
        checkin_id=note.checkin_id,
        question_id=note.question_id,
        words=words,
    )


async def _drop_next(query: Any) -> None:
    """Take "Next" off the message pressed, so a second tap does not ask twice."""
    markup = query.message.reply_markup if query.message else None
    if markup is None:
        return
    next_data = Button.LISTEN.data(NEXT)
    rows = [
        row for row in markup.inline_keyboard if not any(b.callback_data == next_data for b in row)
    ]
    await _quietly(query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None))


async def _quietly(edit: Any) -> None:
    """Edits are cosmetic: a message that is gone or unchanged must not stop anything."""
    try:
        await edit
    except BadRequest as exc:
        log.info("listen: edit skipped: %s", exc.message)
    except TelegramError as exc:
        log.warning("listen: edit failed: %s", exc.message)
