"""Check-ins: start or resume one, and turn presses, text and voice notes into answers.

Each answer is committed (with the session's new state) before the next question is sent.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import replace
from pathlib import Path

from telegram import Message, Update
from telegram.error import BadRequest

from bot.handlers import digest
from bot.handlers.common import answering, chat_id_of, consented
from bot.keyboards import (
    CHOOSE,
    DONE,
    SKIP,
    TOGGLE,
    answered_text,
    parse_callback,
    prompt_keyboard,
    prompt_text,
)
from bot.services import BotContext
from conversations import engine
from conversations.engine import Choose, Done, Event, Prompt, Skip, State, Text, Toggle, Voice
from conversations.model import CheckIn
from storage import nudges, participants
from storage.participants import NewAnswer, Participant, Session

log = logging.getLogger(__name__)

_HINT_KEYS = {
    engine.Hint.USE_BUTTONS: "hint.use_buttons",
    engine.Hint.NEED_TEXT: "hint.need_text",
    engine.Hint.NO_VOICE: "hint.no_voice",
    engine.Hint.REQUIRED: "hint.required",
    engine.Hint.PICK_ONE: "hint.pick_one",
}


async def checkin_command(update: Update, context: BotContext) -> None:
    """/checkin [id]: start the current stage's check-in, or carry on with the open one."""
    person = await consented(update, context)
    if person is None:
        return
    wanted = context.args[0] if context.args else None
    await begin(chat_id_of(update), context, person, wanted)


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
    now = context.services.clock.now()
    stage = context.services.stage.name
    open_session = await participants.session(db, person.id)
    if open_session is not None and checkin_id in (None, open_session.checkin_id):
        loaded = _load(context, open_session)
        if loaded is not None:
            checkin, state = loaded
            if open_session.occurrence_id is None:
                occurrence_id = occurrence_id or await nudges.open_for(db, person.id, checkin.id)
                if occurrence_id is not None:
                    await participants.attach_occurrence(db, open_session.session_id, occurrence_id)
                    open_session = replace(open_session, occurrence_id=occurrence_id)
            moved = engine.resume(checkin, state)
            assert moved.state is not None and moved.prompt is not None
            if await participants.save_step(
                db, open_session, open_session.state, [], moved.state.to_json(), now
            ):
                await _send_prompt(
                    chat_id,
                    context,
                    open_session.session_id,
                    moved.prompt,
                    header=texts("checkin.resumed"),
                )
            return
    checkin = settings.checkin(checkin_id) if checkin_id else settings.checkin_for_stage(stage)
    if checkin is None:
        await context.bot.send_message(chat_id, texts("checkin.nothing_for_stage"))
        return
    if occurrence_id is None:
        occurrence_id = await nudges.open_for(db, person.id, checkin.id)
    started = engine.start(checkin)
    assert started.state is not None and started.prompt is not None
    session = await participants.start_session(
        db, person.id, checkin.id, stage, started.state.to_json(), now, occurrence_id
    )
    header = texts("checkin.begin", title=checkin.title)
    if checkin.intro:
        header += "\n" + checkin.intro.strip()
    await _send_prompt(chat_id, context, session.session_id, started.prompt, header=header)


def _load(context: BotContext, session: Session) -> tuple[CheckIn, State] | None:
    """The session's check-in and state, or None if the config no longer fits it."""
    checkin = context.settings.checkin(session.checkin_id)
    if checkin is None:
        return None
    state = State.from_json(session.state)
    if state.index >= len(checkin.questions):
        return None
    return checkin, state


async def _send_prompt(
    chat_id: int, context: BotContext, session_id: str, prompt: Prompt, header: str = ""
) -> Message:
    message = await context.bot.send_message(
        chat_id,
        prompt_text(context.texts, prompt, header),
        reply_markup=prompt_keyboard(context.texts, prompt),
    )
    if not prompt.takes_buttons:
        # A typed answer has no button press to say which message asked the question; keep
        # its id so the question can be marked answered. Presses carry their message.
        await participants.set_session_message(context.db, session_id, message.message_id)
    return message


# ---------------------------------------------------------------------------------------------
# Inputs.


async def on_button(update: Update, context: BotContext) -> None:
    """A question button: choose, toggle, done or skip."""
    query = update.callback_query
    assert query is not None
    parsed = parse_callback(query.data)
    person, session = await participants.with_session(context.db, chat_id_of(update))
    if parsed is None or person is None or person.status == "stopped" or len(parsed.args) < 2:
        await query.answer(context.texts("hint.stale"))
        return
    try:
        step = int(parsed.args[0])
        action = parsed.args[1]
        option = int(parsed.args[2]) if len(parsed.args) > 2 else 0
    except ValueError:
        await query.answer(context.texts("hint.stale"))
        return
    events: dict[str, Event] = {
        CHOOSE: Choose(step, option),
        TOGGLE: Toggle(step, option),
        DONE: Done(step),
        SKIP: Skip(step),
    }
    if action not in events:
        await query.answer(context.texts("hint.stale"))
        return
    await _apply(update, context, session, events[action])


async def on_text(update: Update, context: BotContext) -> None:
    """A text message: an answer to a text question, or a typed button label."""
    assert update.message is not None and update.message.text is not None
    found = await answering(update, context)
    if found is not None:
        await _apply(update, context, found[1], Text(update.message.text))


async def on_voice(update: Update, context: BotContext) -> None:
    """A voice note (or audio file): saved into the storage folder if the question takes it."""
    message = update.message
    assert message is not None
    found = await answering(update, context)
    if found is None:
        return
    _, session = found
    media = message.voice or message.audio
    assert media is not None
    loaded = _load(context, session) if session else None
    if loaded is None or not engine.current_prompt(*loaded).accepts_voice:
        await _apply(update, context, session, engine.Unsupported("voice"))
        return
    name = await _save_voice(context, media.file_id)
    stored = await _apply(update, context, session, Voice(name))
    if not stored:
        await asyncio.to_thread((context.settings.storage.files_path / name).unlink, True)


async def on_other(update: Update, context: BotContext) -> None:
    """Stickers, photos, locations...: a kind hint and the question again."""
    message = update.message
    assert message is not None
    found = await answering(update, context)
    if found is not None:
        what = message.effective_attachment.__class__.__name__.lower()
        await _apply(update, context, found[1], engine.Unsupported(what))


async def _save_voice(context: BotContext, file_id: str) -> str:
    telegram_file = await context.bot.get_file(file_id)
    data = await telegram_file.download_as_bytearray()
    suffix = Path(telegram_file.file_path or "").suffix or ".ogg"
    name = f"{secrets.token_hex(12)}{suffix}"
    folder = context.settings.storage.files_path

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
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
    loaded = _load(context, session) if session else None
    if session is None or loaded is None:
        if query:
            await query.answer(texts("hint.stale"))
        else:
            await context.bot.send_message(chat_id, texts("checkin.none_waiting"))
        return False
    checkin, state = loaded
    moved = engine.advance(checkin, state, event)
    if moved.stale:
        if query:
            await query.answer(texts("hint.stale"))
        return False
    if moved.hint is not None:
        hint = texts(_HINT_KEYS[moved.hint])
        if query:
            await query.answer(hint)
        else:
            assert moved.prompt is not None
            await _send_prompt(chat_id, context, session.session_id, moved.prompt, header=hint)
        return False

    answers = [NewAnswer(r.question_id, r.kind, r.value, r.file_ref) for r in moved.records]
    new_state = moved.state.to_json() if moved.state else None
    stored = await participants.save_step(
        db, session, session.state, answers, new_state, context.services.clock.now()
    )
    if not stored:
        if query:
            await query.answer(texts("hint.stale"))
        return False
    if query:
        await query.answer()

    if moved.redraw:
        assert moved.prompt is not None and query is not None
        await _quietly(query.edit_message_reply_markup(prompt_keyboard(texts, moved.prompt)))
        return True

    if moved.answered is not None:
        previous = engine.current_prompt(checkin, state)
        shown = (query.message.text if query and query.message else None) or prompt_text(
            texts, previous
        )
        message_id = query.message.message_id if query and query.message else session.message_id
        if message_id is not None:
            await _quietly(
                context.bot.edit_message_text(
                    answered_text(texts, shown, moved.answered)[:4096],
                    chat_id=chat_id,
                    message_id=message_id,
                )
            )
    if moved.finished:
        closing = checkin.closing.strip() or texts("checkin.finished")
        await context.bot.send_message(chat_id, closing)
        await digest.ask_quote_once(chat_id, context)
    else:
        assert moved.prompt is not None
        await _send_prompt(chat_id, context, session.session_id, moved.prompt)
    return True


async def _quietly(edit) -> None:  # type: ignore[no-untyped-def]
    """Edits are cosmetic: a message that is gone or unchanged must not stop the check-in."""
    try:
        await edit
    except BadRequest as exc:
        log.info("edit skipped: %s", exc.message)
