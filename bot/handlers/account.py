"""A person's own data and choices: /mydata, /delete, /pause, /resume, /stop, /help, /privacy."""

from __future__ import annotations

import contextlib
import json

from telegram import InputFile, Update
from telegram.error import TelegramError

from bot.handlers.common import chat_id_of
from bot.keyboards import delete_keyboard, parse_callback
from bot.services import BotContext
from storage import alerts, involvement, participants
from storage.db import parse_utc

_RECENT = 5
_SNIPPET = 200


async def mydata(update: Update, context: BotContext) -> None:
    """A readable summary and a JSON file of everything stored about the person."""
    chat_id, texts = chat_id_of(update), context.texts
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("mydata.none"))
        return
    data = await participants.everything_about(context.db, person.id)
    minutes_of = {c.id: c.minutes for c in context.settings.checkins}
    record = await involvement.record_of(context.db, person.id, minutes_of)
    if record is not None:
        data["involvement"] = record.as_dict()
    summary = texts(
        "mydata.summary",
        pseudonym=person.pseudonym,
        consented=person.consented_at[:10],
        status=texts(f"mydata.status_{person.status}"),
        answers=sum(1 for a in data["answers"] if not a["skipped"]),
        completed=len(data["completed_checkins"]),
    )
    if record is not None:
        summary = f"{summary}\n\n{_involvement_text(context, record)}"
    recent = [a for a in data["answers"] if not a["skipped"]][-_RECENT:]
    if recent:
        lines = [texts("mydata.recent")]
        for answer in recent:
            value = answer["answer"]
            shown = (
                "🎤"
                if answer["voice_note"]
                else (", ".join(value) if isinstance(value, list) else str(value))
            )
            if len(shown) > _SNIPPET:
                shown = shown[: _SNIPPET - 1] + "…"
            lines.append(f"• {answer['question_id']}: {shown}")
        summary = f"{summary}\n\n" + "\n".join(lines)
    await context.bot.send_message(chat_id, summary[:4096])
    payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await context.bot.send_document(
        chat_id,
        InputFile(payload, filename="everystage-my-data.json"),
        caption=texts("mydata.file_caption"),
    )


def _involvement_text(context: BotContext, record: involvement.Involvement) -> str:
    """The short "Your involvement" block of /mydata."""
    texts = context.texts
    stages = [s for s in context.settings.project.stages if record.by_stage.get(s)]
    stages += [s for s in record.by_stage if s not in stages and record.by_stage[s]]
    by_stage = ", ".join(
        texts("involvement.stage_count", count=record.by_stage[s], stage=s) for s in stages
    )
    return texts(
        "involvement.mydata",
        by_stage=by_stage or texts("involvement.by_stage_none"),
        reflections=record.reflections,
        updates=record.updates_received,
        minutes=record.minutes,
        pseudonym=record.pseudonym,
    )


async def delete(update: Update, context: BotContext) -> None:
    """/delete: ask to confirm."""
    chat_id, texts = chat_id_of(update), context.texts
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("delete.nothing"))
        return
    await context.bot.send_message(
        chat_id, texts("delete.confirm"), reply_markup=delete_keyboard(texts)
    )


async def on_delete(update: Update, context: BotContext) -> None:
    """The confirm / cancel buttons of /delete."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse_callback(query.data)
    choice = parsed.args[0] if parsed and parsed.args else "no"
    await query.answer()
    if choice != "yes":
        await query.edit_message_text(texts("delete.kept"))
        return
    person = await participants.by_chat(context.db, chat_id_of(update))
    if person is None:
        await query.edit_message_text(texts("delete.nothing"))
        return
    await _retract_alerts(context, person.id)
    await participants.erase(context.db, person.id, context.settings.storage.files_path)
    # Their quotes and their part in the figures leave the digest files on disk too. It never
    # raises (problems are logged without content), so the person always hears it is done.
    from bot.digest import files as digest_files  # here: only this handler writes them

    joined = parse_utc(person.created_at)
    await digest_files.refresh_after_erasure(context.application, since=joined)
    await query.edit_message_text(texts("delete.done"))


async def _retract_alerts(context: BotContext, participant_id: str) -> None:
    """Before erasing: strip this person's alerts in the coordinators' chat of any detail."""
    chat_id = context.settings.coordinators.chat_id
    if chat_id is None:
        return
    for message_id in await alerts.message_ids(context.db, participant_id):
        with contextlib.suppress(TelegramError):
            await context.bot.edit_message_text(
                context.texts("alerts.retracted"), chat_id=chat_id, message_id=message_id
            )


async def pause(update: Update, context: BotContext) -> None:
    """/pause: no messages until /resume."""
    await _set_status(update, context, "paused", "status.paused", "status.already_paused")


async def resume(update: Update, context: BotContext) -> None:
    """/resume: carry on after /pause."""
    await _set_status(update, context, "active", "status.resumed", "status.not_paused")


async def stop(update: Update, context: BotContext) -> None:
    """/stop: opt out; their messages are ignored until /start."""
    await _set_status(update, context, "stopped", "status.stopped", "status.stopped")


async def _set_status(
    update: Update, context: BotContext, status: str, done_key: str, same_key: str
) -> None:
    chat_id, texts = chat_id_of(update), context.texts
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("consent.needed"))
        return
    if person.status == "stopped" and status != "stopped":
        return  # stopped people are left alone until they send /start
    if person.status == status or (status == "active" and person.status != "paused"):
        await context.bot.send_message(chat_id, texts(same_key))
        return
    await participants.set_status(context.db, person.id, status)
    await context.bot.send_message(chat_id, texts(done_key))


async def help_command(update: Update, context: BotContext) -> None:
    """/help."""
    await context.bot.send_message(chat_id_of(update), context.texts("help.text"))


async def privacy(update: Update, context: BotContext) -> None:
    """/privacy: the consent text and how long answers are kept."""
    settings = context.settings
    await context.bot.send_message(
        chat_id_of(update),
        context.texts(
            "privacy.text",
            consent=settings.consent_text().strip(),
            retention_days=settings.storage.retention_days,
        )[:4096],
    )
