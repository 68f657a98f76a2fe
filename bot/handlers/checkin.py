"""Check-ins: start or resume one, and turn presses, text and voice notes into answers.

Each answer is committed (with the session's new state, and "this update is handled") before
the next question is sent. The question a person should see is derived from stored state, not
from a message that may never have arrived: a question whose delivery Telegram has not
confirmed is sent again by :func:`resend_undelivered` (at start-up, and every few seconds),
and any message, ``/checkin`` or a press of an old keyboard shows the current question again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import Message, Update
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import delivery, outreach
from bot.callbacks import Button, parse
from bot.handlers import weekly_digest
from bot.handlers.common import PRIVATE_NEW, answering, chat_id_of, consented
from bot.keyboards import (
    CHOOSE,
    DONE,
    SKIP,
    TOGGLE,
    answered_text,
    prompt_keyboard,
    prompt_text,
)
from bot.services import BotContext, Services, services_of
from bot.settings import Settings
from bot.texts import Texts
from conversations import engine
from conversations.engine import Choose, Done, Event, Prompt, Skip, State, Text, Toggle, Voice
from conversations.model import CheckIn
from storage import outbox, participants, transcripts
from storage.participants import NewAnswer, Participant, Session, SessionPlan

log = logging.getLogger(__name__)

_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
RESEND_CONCURRENCY = 16


async def checkin_command(update: Update, context: BotContext) -> None:
    """/checkin [id]: start the current stage's check-in, or carry on with the open one."""
    person = await consented(update, context)
    if person is None:
        return
    wanted = context.args[0] if context.args else None
    await begin(chat_id_of(update), context, person, wanted)


def plan_for(checkin: CheckIn, stage: str, occurrence_id: int | None = None) -> SessionPlan:
    """The session a new check-in starts with (its first question)."""
    started = engine.start(checkin)
    assert started.state is not None
    return SessionPlan(
        checkin.id, stage, started.state.to_json(), started.state.step, occurrence_id
    )


def begin_header(context: BotContext, checkin: CheckIn) -> str:
    """The title (and intro) shown above a check-in's first question."""
    header = context.texts("checkin.begin", title=checkin.title)
    if checkin.intro:
        header += "\n" + checkin.intro.strip()
    return header


async def begin(
    chat_id: int,
    context: BotContext,
    person: Participant,
    checkin_id: str | None = None,
    occurrence_id: int | None = None,
) -> None:
    """Resume the participant's open check-in, or start a new one.

    A check-in started from a nudge (or while one of its nudges is open) answers that
    occurrence, so the nudge's reminders stop and a late answer is marked late.
    """
    db, texts, settings = context.db, context.texts, context.settings
    stage = context.services.stage.name
    open_session = await participants.session(db, person.id)
    if open_session is not None and checkin_id in (None, open_session.checkin_id):
        header = texts("checkin.resumed")
        if await resume(chat_id, context, open_session, header, occurrence_id):
            return
    checkin = settings.checkin(checkin_id) if checkin_id else settings.checkin_for_stage(stage)
    if checkin is None:
        await delivery.send_message(context.bot, chat_id, texts("checkin.nothing_for_stage"))
        return
    if occurrence_id is None:
        occurrence_id = await outbox.open_for(db, person.id, checkin.id)
    plan = plan_for(checkin, stage, occurrence_id)
    session = await participants.start_session(db, person.id, plan, context.services.clock.now())
    await show_current(chat_id, context, session, begin_header(context, checkin))


async def resume(
    chat_id: int,
    context: BotContext,
    session: Session,
    header: str = "",
    occurrence_id: int | None = None,
) -> bool:
    """Show the session's question again under a new step, so older buttons go stale.

    False if the configuration no longer fits the session (it is replaced by a new one).
    """
    db = context.db
    loaded = _load(context.settings, session)
    if loaded is None:
        return False
    checkin, state = loaded
    attach = None
    if session.occurrence_id is None:
        attach = occurrence_id or await outbox.open_for(db, session.participant_id, checkin.id)
    moved = engine.resume(checkin, state)
    assert moved.state is not None and moved.prompt is not None
    if await participants.save_step(
        db,
        session,
        session.state,
        [],
        moved.state.to_json(),
        context.services.clock.now(),
        step=moved.state.step,
        occurrence_id=attach,
    ):
        await _send_prompt(chat_id, context, session.session_id, moved.prompt, header)
    return True


async def show_current(
    chat_id: int, context: BotContext, session: Session, header: str = ""
) -> Message | None:
    """Send the question ``session`` is on (its step unchanged)."""
    loaded = _load(context.settings, session)
    if loaded is None:
        return None
    prompt = engine.current_prompt(*loaded)
    return await _send_prompt(chat_id, context, session.session_id, prompt, header)


def _load(settings: Settings, session: Session) -> tuple[CheckIn, State] | None:
    """The session's check-in and state, or None if the config no longer fits it."""
    checkin = settings.checkin(session.checkin_id)
    if checkin is None:
        return None
    state = State.from_json(session.state)
    if state.index >= len(checkin.questions):
        return None
    return checkin, state


async def _send_prompt(
    chat_id: int, context: BotContext, session_id: str, prompt: Prompt, header: str = ""
) -> Message | None:
    return await deliver_prompt(
        context.services, context.bot, chat_id, session_id, prompt, context.texts, header
    )


async def deliver_prompt(
    services: Services,
    bot: Any,
    chat_id: int,
    session_id: str,
    prompt: Prompt,
    texts: Texts,
    header: str = "",
) -> Message | None:
    """Send a question, its buttons and progress in ``texts`` (the person's language),
    retrying Telegram's transient failures; record that it arrived. Then its recording, if
    the config gives it one.

    If it cannot be sent now, the recovery job (:func:`resend_undelivered`) tries again.
    """
    message = await delivery.send_message(
        bot,
        chat_id,
        prompt_text(texts, prompt, header),
        reply_markup=prompt_keyboard(texts, prompt),
    )
    if message is None:
        later = services.clock.now() + participants.PROMPT_GRACE
        await participants.retry_prompt_at(services.db, session_id, prompt.step, later)
        return None
    await participants.prompt_delivered(services.db, session_id, prompt.step, message.message_id)
    if not prompt.follow_up:
        # Its recording, if it has one, in the person's language: only once the question
        # itself has arrived, and never in its way (bot/prompt_audio.py).
        audio = services.settings.audio_for(prompt.question, texts.locale)
        if audio is not None:
            await services.audio.send(bot, chat_id, audio, (session_id, prompt.question.id))
    return message


async def resend_undelivered(app: Any, everything: bool = False) -> int:
    """Send every question that has not reached its person (a crash, an outage); return how many.

    ``everything`` at start-up: nothing of a previous run is still on its way. Otherwise only
    questions whose retry time has come, so a handler that is sending one right now is not
    doubled.
    """
    services = services_of(app)
    now = services.clock.now()
    waiting = await participants.awaiting_prompt(services.db, None if everything else now)
    if not waiting:
        return 0
    processor = app.update_processor
    limit = asyncio.Semaphore(RESEND_CONCURRENCY)
    sent = 0

    async def resend(chat_id: int, session: Session) -> None:
        nonlocal sent
        async with limit, processor.chat_lock(chat_id):
            current = await participants.session(services.db, session.participant_id)
            if (
                current is None
                or current.session_id != session.session_id
                or current.step != session.step
                or current.delivered
            ):
                return  # the person moved on, or it arrived meanwhile
            assert current.step is not None
            _, language = await participants.language_at(services.db, chat_id)
            loaded = _load(services.settings_in(language), current)
            # Claim it first, so an overlapping run does not send it as well. A check-in the
            # configuration no longer has waits for the person's next message (which starts
            # the current one) instead of coming back every few seconds.
            later = services.clock.now() + (
                participants.PROMPT_GRACE if loaded else timedelta(days=1)
            )
            await participants.retry_prompt_at(services.db, current.session_id, current.step, later)
            if loaded is None:
                return
            prompt = engine.current_prompt(*loaded)
            texts = services.texts_in(language)
            if await deliver_prompt(services, app.bot, chat_id, current.session_id, prompt, texts):
                sent += 1

    await asyncio.gather(*(resend(chat_id, session) for chat_id, session in waiting))
    if sent:
        log.info("sent %d question(s) that had not reached people", sent)
    return sent


# ---------------------------------------------------------------------------------------------
# Inputs.


async def on_button(update: Update, context: BotContext) -> None:
    """A question button: choose, toggle, done or skip."""
    query = update.callback_query
    assert query is not None
    parsed = parse(query.data)
    person, session = await participants.with_session(context.db, chat_id_of(update))
    if person is None or person.status == "stopped":
        await query.answer(context.texts("hint.stale"))
        return
    event = _button_event(parsed.args if parsed else ())
    if event is None:
        await query.answer(context.texts("hint.stale"))
        return
    await _apply(update, context, session, event)


def _button_event(args: tuple[str, ...]) -> Event | None:
    """``<step>:<action>[:<option>]`` as an engine event; None for anything malformed."""
    if len(args) < 2:
        return None
    try:
        step = int(args[0])
        option = int(args[2]) if len(args) > 2 else 0
    except ValueError:
        return None
    events: dict[str, Event] = {
        CHOOSE: Choose(step, option),
        TOGGLE: Toggle(step, option),
        DONE: Done(step),
        SKIP: Skip(step),
    }
    return events.get(args[1])


async def on_text(update: Update, context: BotContext) -> None:
    """A text message: an answer to a text question, or a typed button label."""
    assert update.message is not None and update.message.text is not None
    found = await answering(update, context)
    if found is not None:
        await _apply(update, context, found[1], Text(update.message.text))


async def on_voice(update: Update, context: BotContext) -> None:
    """A voice note (or audio file): saved into the storage folder if the question takes it.

    One larger than ``storage.max_file_mb`` is refused kindly before anything is downloaded.
    """
    message = update.message
    assert message is not None
    found = await answering(update, context)
    if found is None:
        return
    _, session = found
    media = message.voice or message.audio
    assert media is not None
    loaded = _load(context.settings, session) if session else None
    if loaded is None or not engine.current_prompt(*loaded).accepts_voice:
        await _apply(update, context, session, engine.Unsupported("voice"))
        return
    assert session is not None
    limit_mb = context.settings.storage.max_file_mb
    name = await save_voice(context, media.file_id, media.file_size, limit_mb)
    if name is None:
        chat_id = chat_id_of(update)
        hint = context.texts("hint.file_too_big", mb=f"{limit_mb:g}")
        await show_current(chat_id, context, session, header=hint)
        return
    stored = await _apply(update, context, session, Voice(name, _seconds(media)))
    if not stored:
        await asyncio.to_thread((context.settings.storage.files_path / name).unlink, True)


def _seconds(media: Any) -> int:
    """How long Telegram says a voice note is (0 if it does not).

    Read from the serialised form: python-telegram-bot 22.2+ warns on ``duration`` (it becomes
    a timedelta in a future version); the Bot API itself always sends whole seconds.
    """
    value = media.to_dict().get("duration")
    return value if isinstance(value, int) and value > 0 else 0


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos, locations...: a kind hint and the question again."""
    message = update.message
    assert message is not None
    found = await answering(update, context)
    if found is not None:
        what = message.effective_attachment.__class__.__name__.lower()
        await _apply(update, context, found[1], engine.Unsupported(what))


async def save_voice(
    context: BotContext, file_id: str, declared_size: int | None, limit_mb: float
) -> str | None:
    """Download a voice note into the storage folder; None if it is over the limit."""
    limit = int(limit_mb * 1024 * 1024)
    if declared_size is not None and declared_size > limit:
        return None
    telegram_file = await delivery.with_retries(
        lambda: context.bot.get_file(file_id), what="a voice note's address"
    )
    if telegram_file.file_size is not None and telegram_file.file_size > limit:
        return None
    data = await delivery.with_retries(telegram_file.download_as_bytearray, what="a voice note")
    if len(data) > limit:
        return None
    suffix = Path(telegram_file.file_path or "").suffix.lower()
    # The suffix comes from Telegram's file_path: keep it only if it looks like one.
    name = f"{secrets.token_hex(12)}{suffix if _SUFFIX.fullmatch(suffix) else '.ogg'}"
    folder = context.settings.storage.files_path

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / name).write_bytes(bytes(data))

    await asyncio.to_thread(write)
    return name


# ---------------------------------------------------------------------------------------------
# The step itself.


async def _apply(
    update: Update,
    context: BotContext,
    session: Session | None,
    event: Event,
) -> bool:
    """Feed one event to the engine, store what it records, then show what comes next.

    ``session`` is the person's open check-in as read with them. Returns True when answers
    were stored.
    """
    db, texts = context.db, context.texts
    query = update.callback_query
    chat_id = chat_id_of(update)
    loaded = _load(context.settings, session) if session else None
    if session is None or loaded is None:
        if query:
            await query.answer(texts("hint.stale"))
        else:
            await delivery.send_message(context.bot, chat_id, texts("checkin.none_waiting"))
        return False
    checkin, state = loaded
    moved = engine.advance(checkin, state, event)
    if moved.stale:
        await _stale(update, context, session)
        return False
    if moved.hint is not None:
        assert moved.prompt is not None
        hint = hint_text(texts, moved.hint, moved.prompt)
        if query:
            await query.answer(hint)
            if query.message is not None:
                # The hint stays on the question (a toast is gone in a second), and the edit
                # redraws its buttons, so every one of them can be pressed again.
                await delivery.quietly(
                    query.edit_message_text(
                        prompt_text(texts, moved.prompt, header=hint)[:4096],
                        reply_markup=prompt_keyboard(texts, moved.prompt),
                    ),
                    "a hint",
                )
        else:
            await _send_prompt(chat_id, context, session.session_id, moved.prompt, header=hint)
        return False

    answers = [
        NewAnswer(r.question_id, r.kind, r.value, r.file_ref, r.seconds) for r in moved.records
    ]
    closing = (checkin.closing.strip() or texts("checkin.finished")) if moved.finished else None
    transcriber = context.services.transcriber
    transcribe = transcriber is not None and any(a.file_path for a in answers)
    if transcribe:  # the transcriber's queue is bounded; beyond it, coordinators listen
        transcribe = await transcripts.waiting(db) < transcriber.settings.max_waiting
    stored = await participants.save_step(
        db,
        session,
        session.state,
        answers,
        moved.state.to_json() if moved.state else None,
        context.services.clock.now(),
        step=moved.state.step if moved.state else None,
        closing=closing,
        transcribe=transcribe,
    )
    if not stored:
        await _stale(update, context, await participants.session(db, session.participant_id))
        return False
    if transcribe:
        transcriber.wake()
    if query:
        await query.answer()

    if moved.redraw:
        assert moved.prompt is not None
        if query is not None:
            await delivery.quietly(
                query.edit_message_reply_markup(prompt_keyboard(texts, moved.prompt)), "a redraw"
            )
        else:
            # A typed option ticked: the question again below it, with the tick, and the older
            # copy's buttons taken away (only once the new one is there).
            sent = await _send_prompt(chat_id, context, session.session_id, moved.prompt)
            if sent is not None and session.message_id not in (None, sent.message_id):
                await delivery.quietly(
                    context.bot.edit_message_reply_markup(
                        chat_id=chat_id, message_id=session.message_id, reply_markup=None
                    ),
                    "a redraw",
                )
        return True

    if moved.answered is not None:
        # Mark the answered question (cosmetic: a failure here never stops what comes next).
        previous = engine.current_prompt(checkin, state)
        shown = (query.message.text if query and query.message else None) or prompt_text(
            texts, previous
        )
        message_id = query.message.message_id if query and query.message else session.message_id
        if message_id is not None:
            await delivery.quietly(
                context.bot.edit_message_text(
                    answered_text(texts, shown, moved.answered)[:4096],
                    chat_id=chat_id,
                    message_id=message_id,
                )
            )
    if moved.finished:
        # Queued with the last answer; sent now, or by the nudge job if this fails.
        key = participants.closing_key(session.session_id)
        await outreach.send_reply(context.application, session.participant_id, key)
    else:
        assert moved.prompt is not None
        await _send_prompt(chat_id, context, session.session_id, moved.prompt)
    if moved.finished:
        await weekly_digest.ask_quote_once(chat_id, context)
    return True


def hint_text(texts: Texts, hint: str, prompt: Prompt) -> str:
    """The kind words for a hint (``hint.<name>``: an engine.Hint, or a question kind's own),
    naming the buttons as they read on this question."""
    skip = texts("checkin.rather_not" if prompt.takes_buttons else "checkin.skip")
    return texts(f"hint.{hint}", done=texts("checkin.done"), skip=skip)


async def _stale(update: Update, context: BotContext, session: Session | None) -> None:
    """An old button (or a repeat): say so, and show the question the person is on now."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.texts("hint.stale"))
    if session is None:
        return
    pressed = query.message.message_id if query is not None and query.message else None
    if session.delivered and pressed is not None and pressed == session.message_id:
        return  # they are looking at the current question already
    await resume(chat_id_of(update), context, session, context.texts("checkin.current"))


def register(app: Any) -> None:
    """/checkin, the answer buttons, and typed or spoken answers (private chats only)."""
    app.add_handler(CommandHandler("checkin", checkin_command, filters=PRIVATE_NEW))
    app.add_handler(Button.ANSWER.handler(on_button))
    # Commands are never answers: an unknown one gets its own reply (bot/handlers/other.py).
    typed = PRIVATE_NEW & ~filters.COMMAND
    app.add_handler(MessageHandler(typed & filters.TEXT, on_text))
    app.add_handler(MessageHandler(PRIVATE_NEW & (filters.VOICE | filters.AUDIO), on_voice))
    app.add_handler(MessageHandler(typed, on_other))
