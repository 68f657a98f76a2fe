"""A person's own data and choices: /mydata, /delete, /pause, /resume, /stop, /help, /privacy."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import InputFile, Update
from telegram.error import TelegramError
from telegram.ext import CommandHandler

from bot.callbacks import Button, parse
from bot.handlers import checkin
from bot.handlers.common import PRIVATE_NEW, chat_id_of
from bot.keyboards import delete_keyboard
from bot.renderers import renderer_for
from bot.services import BotContext
from bot.settings import Settings
from bot.texts import Texts, money, period_words, screens, short_question, years_words
from conversations.engine import FOLLOW_UP_SUFFIX
from conversations.model import CheckIn, Question
from storage import alerts, involvement, participants, payments
from storage.db import parse_utc

_RECENT = 5
_SNIPPET = 200
# Telegram takes uploads of up to 50 MB from bots; each zip of voice notes stays well under.
ZIP_PART_BYTES = 45 * 1024 * 1024
_UPLOAD_SECONDS = 300


async def mydata(update: Update, context: BotContext) -> None:
    """A readable summary, a JSON file of everything stored, and the voice notes themselves.

    The JSON file stays a plain JSON file (a phone opens it without unzipping anything); the
    recordings follow it in a zip (more than one if they would pass Telegram's upload limit),
    and the file says which recording is which answer.
    """
    chat_id, texts, settings = chat_id_of(update), context.texts, context.settings
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("mydata.none"))
        return
    data = await participants.everything_about(context.db, person.id)
    minutes_of = {c.id: c.minutes for c in settings.checkins}
    record = await involvement.record_of(context.db, person.id, minutes_of)
    if record is not None:
        data["involvement"] = record.as_dict()
    given = [a for a in data["answers"] if not a["skipped"]]
    summary = texts(
        "mydata.summary",
        pseudonym=person.pseudonym,
        consented=person.consented_at[:10],
        status=texts(f"mydata.status_{person.status}"),
        answers=len(given),
        completed=len(data["completed_checkins"]),
        retention=period_words(settings.storage.retention_days, context.language),
    )
    if record is not None:
        summary = f"{summary}\n\n{_involvement_text(context, record)}"
    summary = f"{summary}\n\n{_payments_text(context, person, data['payments_to_you'])}"
    recent = given[-_RECENT:]
    if recent:
        lines = [texts("mydata.recent")]
        for answer in recent:
            words = question_words(settings, answer["checkin_id"], answer["question_id"])
            lines.append(
                texts(
                    "mydata.answer",
                    question=short_question(words) if words else answer["question_id"],
                    answer=answer_words(context, answer),
                )
            )
        summary = f"{summary}\n\n" + "\n".join(lines)
    for answer in data["answers"]:
        answer["question"] = question_words(settings, answer["checkin_id"], answer["question_id"])
    parts = await asyncio.to_thread(voice_parts, settings.storage.files_path, data["answers"])
    if parts:
        names = " / ".join(part.filename for part in parts)
        data["about_voice_notes"] = texts("mydata.voice_where", files=names)
    await context.bot.send_message(chat_id, summary[:4096])
    payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await context.bot.send_document(
        chat_id,
        InputFile(payload, filename="everystage-my-data.json"),
        caption=texts("mydata.file_caption"),
    )
    for number, part in enumerate(parts, start=1):
        zipped = await asyncio.to_thread(part.build)
        caption = (
            texts("mydata.voice_caption")
            if len(parts) == 1
            else texts("mydata.voice_caption_part", part=number, parts=len(parts))
        )
        await context.bot.send_document(
            chat_id,
            InputFile(zipped, filename=part.filename),
            caption=caption,
            write_timeout=_UPLOAD_SECONDS,
        )


def question_words(settings: Settings, checkin_id: str, question_id: str) -> str | None:
    """The question's text in the current config (a follow-up's own text); None if it is gone."""
    checkin = settings.checkin(checkin_id)
    if checkin is None:
        return None
    base = question_id.removesuffix(FOLLOW_UP_SUFFIX)
    try:
        question = checkin.question(base)
    except KeyError:
        return None
    if base == question_id:
        return question.text
    return question.follow_up_text


def answer_words(context: BotContext, answer: dict[str, Any]) -> str:
    """An answer as the person gave it: "Yes", "5 (Really good)", "voice note (12 s)", or a
    voice note with its words and whose they are ("— as you confirmed")."""
    texts = context.texts
    if answer["voice_note"]:
        voice = voice_words(texts, answer.get("voice_seconds"))
        words, by = answer.get("transcript"), answer.get("transcript_by")
        if not words or by not in WHOSE_WORDS:
            return voice
        return texts(WHOSE_WORDS[by], voice=voice, words=_clipped(" ".join(words.split())))
    checkin = context.settings.checkin(answer["checkin_id"])
    question = _find(checkin, answer["question_id"]) if checkin else None
    if question is not None and question.kind != answer["kind"]:
        question = None  # the config has since made it another kind of question
    return _clipped(renderer_for(answer["kind"]).words(texts, answer["answer"], question))


# Whose a voice note's words are (answers.transcript_by), as /mydata says it.
WHOSE_WORDS = {
    "person": "mydata.voice_words_person",
    "coordinator": "mydata.voice_words_coordinator",
    "machine": "mydata.voice_words_machine",
}


def _clipped(shown: str) -> str:
    return shown if len(shown) <= _SNIPPET else shown[: _SNIPPET - 1] + "…"


def voice_words(texts: Texts, seconds: int | None) -> str:
    """ "voice note (12 s)", "voice note (1 min 5 s)", or "voice note" if Telegram did not say."""
    if not seconds:
        return texts("mydata.voice")
    if seconds < 60:
        return texts("mydata.voice_seconds", seconds=seconds)
    minutes, rest = divmod(seconds, 60)
    return texts("mydata.voice_minutes", minutes=minutes, seconds=rest)


def _find(checkin: CheckIn, question_id: str) -> Question | None:
    try:
        return checkin.question(question_id)
    except KeyError:
        return None


@dataclass
class VoicePart:
    """One zip of voice notes: (path on disk, name inside the zip) pairs."""

    filename: str
    files: list[tuple[Path, str]] = field(default_factory=list)
    size: int = 0

    def build(self) -> bytes:
        buffer = io.BytesIO()
        # Stored, not deflated: voice notes are compressed audio already.
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for path, name in self.files:
                with contextlib.suppress(FileNotFoundError):  # erased meanwhile (retention)
                    archive.write(path, name)
        return buffer.getvalue()


def voice_parts(
    files_dir: Path, answers: list[dict[str, Any]], limit: int = ZIP_PART_BYTES
) -> list[VoicePart]:
    """Put every voice answer's recording in a zip, several if one would be too big to send.

    Each answer's ``voice_note`` becomes where its recording is: the zip and the name in it
    (``in`` is None if the file is no longer on disk).
    """
    parts: list[VoicePart] = []
    number = 0
    for answer in answers:
        stored = answer["voice_note"]
        if not stored:
            continue
        number += 1
        path = files_dir / stored
        day = str(answer["answered_at"])[:10]
        name = f"{number:02d}-{answer['question_id']}-{day}{path.suffix or '.ogg'}"
        try:
            size = path.stat().st_size
        except OSError:
            answer["voice_note"] = {"file": None, "in": None, "seconds": answer["voice_seconds"]}
            continue
        if not parts or parts[-1].size + size > limit:
            parts.append(VoicePart(""))
        parts[-1].files.append((path, name))
        parts[-1].size += size
        answer["voice_note"] = {"file": name, "in": len(parts), "seconds": answer["voice_seconds"]}
    for index, part in enumerate(parts, start=1):
        part.filename = (
            "everystage-my-voice-notes.zip"
            if len(parts) == 1
            else f"everystage-my-voice-notes-{index}-of-{len(parts)}.zip"
        )
    for answer in answers:
        note = answer["voice_note"]
        if isinstance(note, dict) and note["in"] is not None:
            note["in"] = parts[note["in"] - 1].filename
    return parts


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
        suggestions=record.suggestions,
        votes=record.votes,
        updates=record.updates_received,
        minutes=record.minutes,
        pseudonym=record.pseudonym,
    )


def _payments_text(
    context: BotContext, person: participants.Participant, paid: list[dict[str, Any]]
) -> str:
    """What they asked for as payment for their time, and what the project paid them."""
    texts, settings = context.texts, context.settings
    preference = texts(f"settings.recognition_is_{person.recognition or 'unset'}")
    lines = [texts("mydata.recognition", preference=preference)]
    if paid:
        lines.append(texts("mydata.payments"))
        for payment in paid:
            lines.append(
                texts(
                    "mydata.payment",
                    amount=money(payment["amount"], payment["currency"], context.language),
                    method=texts(f"mydata.method_{payment['method']}"),
                    day=payment["paid_on"],
                )
            )
        lines.append(texts("mydata.payments_kept", years=_payment_years(settings, texts)))
    return "\n".join(lines)


def _payment_years(settings: Settings, texts: Texts) -> str:
    return years_words(settings.recognition.retention_years, texts.locale)


async def delete(update: Update, context: BotContext) -> None:
    """/delete: ask to confirm."""
    chat_id, texts = chat_id_of(update), context.texts
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("delete.nothing"))
        return
    # Payments stay (finance law): say so before they decide, only to those who have any.
    if await payments.count_of(context.db, person.id):
        confirm = texts(
            "delete.confirm_payments", years=_payment_years(context.settings, context.texts)
        )
    else:
        confirm = texts("delete.confirm")
    await context.bot.send_message(chat_id, confirm, reply_markup=delete_keyboard(texts))


async def on_delete(update: Update, context: BotContext) -> None:
    """The confirm / cancel buttons of /delete."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    pressed = parse(query.data)
    choice = pressed.arg(0, "no") if pressed else "no"
    await query.answer()
    if choice != "yes":
        await query.edit_message_text(texts("delete.kept"))
        return
    person = await participants.by_chat(context.db, chat_id_of(update))
    if person is None:
        await query.edit_message_text(texts("delete.nothing"))
        return
    await _retract_alerts(context, person.id)
    kept = await payments.count_of(context.db, person.id)
    await participants.erase(context.db, person.id, context.settings.storage.files_path)
    # Their quotes and their part in the figures leave the digest files on disk too. It never
    # raises (problems are logged without content), so the person always hears it is done.
    from bot.digest import files as digest_files  # here: only this handler writes them

    joined = parse_utc(person.created_at)
    await digest_files.refresh_after_erasure(context.application, since=joined)
    await query.edit_message_text(texts("delete.done_payments" if kept else "delete.done"))


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
    """/resume: carry on after /pause, with the open check-in's question if there is one."""
    chat_id, texts, settings = chat_id_of(update), context.texts, context.settings
    person = await participants.by_chat(context.db, chat_id)
    if person is None:
        await context.bot.send_message(chat_id, texts("consent.needed"))
        return
    if person.status == "stopped":
        return  # stopped people are left alone until they send /start
    was_paused = person.status == "paused"
    if was_paused:
        await participants.set_status(context.db, person.id, "active")
    session = await participants.session(context.db, person.id)
    if session is not None and person.consent_version == settings.consent.version:
        header = texts("status.resumed_checkin" if was_paused else "status.not_paused_checkin")
        if await checkin.resume(chat_id, context, session, header):
            return
    await context.bot.send_message(
        chat_id, texts("status.resumed" if was_paused else "status.not_paused")
    )


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
    """/privacy: the privacy notice (what is kept, why, who sees it, how long, rights, contact),
    a phone screen at a time: one message for each part that fits on one."""
    for part in screens(privacy_notice(context.texts, context.settings)):
        await context.bot.send_message(chat_id_of(update), part[:4096])


def privacy_notice(texts: Texts, settings: Settings) -> str:
    """The notice, filled in from ``[privacy]``, retention and safeguarding settings."""
    safeguarding = settings.safeguarding
    if not any(safeguarding.phrases.values()):
        alerts_line = ""
    elif safeguarding.share_text_in_alerts:
        alerts_line = texts("privacy.safeguarding_words")
    else:
        alerts_line = texts("privacy.safeguarding")
    return texts(
        "privacy.notice",
        organisation=settings.privacy.organisation or settings.project.display_name,
        contact=settings.privacy.contact or texts("privacy.default_contact"),
        retention=period_words(settings.storage.retention_days, texts.locale),
        safeguarding=alerts_line,
        payment_years=_payment_years(settings, texts),
    )


def register(app: Any) -> None:
    """A person's own data and choices (private chats only: see bot/access.py)."""
    for name, callback in (
        ("mydata", mydata),
        ("delete", delete),
        ("pause", pause),
        ("resume", resume),
        ("stop", stop),
        ("help", help_command),
        ("privacy", privacy),
    ):
        app.add_handler(CommandHandler(name, callback, filters=PRIVATE_NEW))
    app.add_handler(Button.DELETE.handler(on_delete))
