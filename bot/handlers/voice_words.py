"""The words of a voice note, checked by the person who spoke them.

When the transcriber (bot/voice/transcriber.py) has made a voice-note answer into words, they
are screened for safeguarding like typed words, then the person gets "Here's what I heard"
with three buttons: "That's right" (the words are theirs now), "Let me fix it" (their typed
reply replaces the words) and "Keep it as audio only" (the words are forgotten, in the chat
too). Until they confirm, the words are marked as the machine's, and the voice note also
waits for a coordinator to listen to it (/listen).

The message is queued in the outbox with the words, in one transaction, and sent as a reply:
a crash or a Telegram outage delays it, never loses it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import ForceReply, Update
from telegram.ext import MessageHandler, filters

from bot import delivery, outreach
from bot.callbacks import Button, parse
from bot.handlers import safeguarding
from bot.handlers.common import RepliesTo, chat_id_of, consented
from bot.services import BotContext, services_of
from bot.texts import Texts
from storage import outbox, participants, transcripts
from storage.transcripts import Job, Words

log = logging.getLogger(__name__)

RIGHT, FIX, AUDIO = "ok", "fix", "audio"
# Telegram's limit is 4096; the words are quoted inside a few lines of ours.
_MAX_WORDS = 3500
_MAX_QUESTION = 120


def register(app: Any) -> None:
    """The three buttons under "Here's what I heard", and replies fixing the words."""
    app.add_handler(Button.HEARD_WORDS.handler(on_press))
    fixes = (
        filters.ChatType.PRIVATE
        & filters.UpdateType.MESSAGE
        & filters.TEXT
        & ~filters.COMMAND
        & RepliesTo(app, "voice.fix_prompt")
    )
    app.add_handler(MessageHandler(fixes, on_fix))


def heard_text(texts: Texts, question: str, words: str) -> str:
    """ "Here's what I heard" for one answer, the words in quotes."""
    if len(question) > _MAX_QUESTION:
        question = question[: _MAX_QUESTION - 1] + "…"
    if len(words) > _MAX_WORDS:
        words = words[: _MAX_WORDS - 1] + "…"
    return texts("voice.heard", question=question, words=words)


def heard_buttons(texts: Texts, answer_id: int) -> list[list[tuple[str, str]]]:
    """Rows of (label, callback data): right and fix side by side, audio only below."""
    return [
        [
            (texts("voice.right"), Button.HEARD_WORDS.data(answer_id, RIGHT)),
            (texts("voice.fix"), Button.HEARD_WORDS.data(answer_id, FIX)),
        ],
        [(texts("voice.audio_only"), Button.HEARD_WORDS.data(answer_id, AUDIO))],
    ]


async def on_words(app: Any, job: Job, words: str) -> None:
    """The transcriber's words for one voice note: screened, kept, and shown to the person.

    Screened first: if the bot dies after that, the note is transcribed again, and the
    support already offered in this conversation is not offered twice.
    """
    services = services_of(app)
    db = services.db
    person = await participants.by_id(db, job.participant_id)
    if person is None:  # they deleted their data meanwhile
        return
    words = " ".join(words.split())
    if words:
        await safeguarding.screen_spoken(app, person, words, (job.checkin_id, job.question_id))
    texts = services.texts_in(person.language)
    settings = services.settings_in(person.language)
    key = transcripts.heard_key(job.answer_id)
    async with db.transaction() as tx:
        kept: Words | None = await transcripts.heard(tx, job.answer_id, words)
        if kept is None or person.status == "stopped":
            return
        checkin = settings.checkin(kept.checkin_id)
        question = next(
            (q.text for q in (checkin.questions if checkin else ()) if q.id == kept.question_id),
            kept.question_id,
        )
        await outbox.queue_in(
            tx,
            [person.id],
            key,
            heard_text(texts, question, words),
            services.clock.now(),
            buttons=json.dumps(heard_buttons(texts, job.answer_id)),
            kind="reply",
        )
    await outreach.send_reply(app, person.id, key)


async def on_press(update: Update, context: BotContext) -> None:
    """``vw:<answer id>:<ok|fix|audio>``."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    pressed = parse(query.data)
    args = pressed.args if pressed is not None else ()
    if len(args) != 2 or not args[0].isdigit() or args[1] not in (RIGHT, FIX, AUDIO):
        await query.answer(texts("hint.stale"))
        return
    person = await consented(update, context)
    if person is None:
        await query.answer()
        return
    answer_id, choice = int(args[0]), args[1]
    db, now = context.db, context.services.clock.now()
    shown = query.message.text if query.message is not None else None
    if choice == RIGHT:
        if not await transcripts.confirm(db, answer_id, person.id, now):
            await query.answer(texts("voice.gone"))
            return
        await query.answer(texts("voice.thanks"))
        if shown:
            await delivery.quietly(
                query.edit_message_text(f"{shown}\n\n{texts('voice.kept_right')}"[:4096])
            )
    elif choice == AUDIO:
        if not await transcripts.audio_only(db, answer_id, person.id, now):
            await query.answer(texts("voice.gone"))
            return
        await db.scrub(["answers", "outbox", "inbox"])  # from every file the database wrote
        await query.answer(texts("voice.thanks"))
        # The words leave the chat too: only the voice note is kept.
        await delivery.quietly(query.edit_message_text(texts("voice.kept_audio")))
    else:
        await query.answer()
        asked = await delivery.send_message(
            context.bot,
            chat_id_of(update),
            texts("voice.fix_prompt"),
            reply_markup=ForceReply(input_field_placeholder=texts("voice.fix_placeholder")),
        )
        if asked is not None and not await transcripts.ask_fix(
            db, answer_id, person.id, asked.message_id
        ):
            await delivery.send_message(context.bot, chat_id_of(update), texts("voice.gone"))


async def on_fix(update: Update, context: BotContext) -> None:
    """A reply to "Type what you said": their words replace what the machine heard.

    (The safeguarding screen has already seen this message, as it sees every typed one.)
    """
    message = update.message
    assert message is not None and message.reply_to_message is not None
    assert message.text is not None
    person = await consented(update, context)
    if person is None:
        return
    words = message.text.strip()
    fixed = await transcripts.fix(context.db, person.id, message.reply_to_message.message_id, words)
    texts = context.texts
    reply = texts("voice.fixed") if fixed is not None else texts("voice.gone")
    await delivery.send_message(context.bot, chat_id_of(update), reply)
