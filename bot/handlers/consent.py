"""/start and the consent buttons. Nothing about a person is stored before they say yes."""

from __future__ import annotations

from telegram import Update
from telegram.error import BadRequest

from bot.handlers import checkin
from bot.handlers.common import chat_id_of, show_consent
from bot.keyboards import consent_keyboard, parse_callback
from bot.services import BotContext
from storage import invites, participants


async def start(update: Update, context: BotContext) -> None:
    """/start: consent for newcomers; welcome back (and the check-in) for everyone else."""
    chat_id = chat_id_of(update)
    person = await participants.by_chat(context.db, chat_id)
    # An invite link (/start <code>): a known code rides on the consent buttons until "Yes".
    code = context.args[0] if context.args else None
    if code is not None and await invites.cohort_of(context.db, code) is None:
        code = None  # unknown codes are ignored: they join without a cohort
    if person is None:
        await show_consent(chat_id, context, code=code)
        return
    if person.consent_version != context.settings.consent.version:
        await show_consent(chat_id, context, changed=True, code=code)
        return
    if person.status == "stopped":
        await participants.set_status(context.db, person.id, "active")
        await context.bot.send_message(chat_id, context.texts("welcome.back_again"))
    else:
        await context.bot.send_message(chat_id, context.texts("welcome.back"))
    await checkin.begin(chat_id, context, person)


async def on_consent(update: Update, context: BotContext) -> None:
    """'Yes, I agree' / 'No thanks' / 'Tell me more'."""
    query = update.callback_query
    assert query is not None and query.message is not None
    texts, settings = context.texts, context.settings
    parsed = parse_callback(query.data)
    assert parsed is not None
    choice, version = parsed.args[0], int(parsed.args[1])
    code = parsed.args[2] if len(parsed.args) > 2 else None
    chat_id = chat_id_of(update)
    if version != settings.consent.version:
        await query.answer(texts("consent.outdated"))
        await show_consent(chat_id, context, changed=True)
        return
    person = await participants.by_chat(context.db, chat_id)
    if choice == "more":
        await query.answer()
        await context.bot.send_message(
            chat_id,
            settings.consent.more.strip() or settings.consent_text().strip(),
            reply_markup=consent_keyboard(texts, version, more=False, code=code),
        )
        return
    if choice == "no":
        await query.answer()
        if person is not None and person.status != "stopped":
            await participants.set_status(context.db, person.id, "stopped")
            reply = texts("consent.declined_existing")
        else:
            reply = texts("consent.declined")
        await _close(query, reply)
        return
    if person is not None and person.consent_version == version and person.status == "active":
        await query.answer(texts("hint.stale"))  # a double tap on "Yes"
        return
    cohort = await invites.cohort_of(context.db, code)
    person = await participants.consent(
        context.db, chat_id, version, context.services.clock.now(), cohort=cohort
    )
    await query.answer()
    await _close(query, texts("consent.agreed"))
    await checkin.begin(chat_id, context, person)


async def _close(query, note: str) -> None:  # type: ignore[no-untyped-def]
    """Keep the consent text on screen, remove its buttons, and add what was decided."""
    text = query.message.text or ""
    try:
        await query.edit_message_text(f"{text}\n\n{note}"[:4096])
    except BadRequest:
        await query.message.reply_text(note)
