"""/start and the consent buttons. Nothing about a person is stored before they say yes."""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler

from bot import delivery
from bot.callbacks import Button, parse
from bot.handlers import checkin
from bot.handlers.common import PRIVATE_NEW, chat_id_of, show_consent
from bot.keyboards import consent_keyboard
from bot.language import LANGUAGE
from bot.services import BotContext
from storage import inbox, invites, participants

log = logging.getLogger(__name__)

_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # an invite code


def register(app: Any) -> None:
    """/start and the consent buttons (private chats only: see bot/access.py)."""
    app.add_handler(CommandHandler("start", start, filters=PRIVATE_NEW))
    app.add_handler(Button.CONSENT.handler(on_consent))


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
    pressed = parse(query.data)
    args = pressed.args if pressed else ()
    offered = context.settings.project.offered
    language = args[3] if len(args) > 3 and args[3] in offered else None
    if language is not None:
        LANGUAGE.set(language)  # the language they read the consent in
    texts, settings = context.texts, context.settings
    if len(args) not in (2, 3, 4) or args[0] not in ("yes", "no", "more") or not args[1].isdigit():
        await query.answer(texts("hint.stale"))  # not a consent button we ever sent
        return
    choice, version = args[0], int(args[1])
    code = args[2] if len(args) > 2 and _CODE.fullmatch(args[2]) else None
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
            settings.consent.more.strip() or settings.consent_text(context.language).strip(),
            reply_markup=consent_keyboard(texts, version, more=False, code=code, language=language),
        )
        return
    if choice == "no":
        await query.answer()
        if person is not None and person.status != "stopped":
            await participants.set_status(context.db, person.id, "stopped")
            reply = texts("consent.declined_existing")
        else:
            # "We have not kept anything": this press and anything they sent before are
            # erased from the inbox and from every file, now.
            await inbox.settle_now(context.db, context.services.clock.now())
            await context.db.scrub(["inbox"])
            reply = texts("consent.declined")
        await _close(query, reply)
        return
    if person is not None and person.consent_version == version and person.status == "active":
        # A repeat (a double tap, or the press handled again after a restart): show the
        # question they are on, unless it has already reached them.
        await query.answer(texts("hint.stale"))
        _, session = await participants.with_session(context.db, chat_id)
        if session is None or not session.delivered:
            await checkin.begin(chat_id, context, person)
        return
    cohort = await invites.cohort_of(context.db, code)
    stage = context.services.stage.name
    first = settings.checkin_for_stage(stage)
    person, session = await participants.consent(
        context.db,
        chat_id,
        version,
        context.services.clock.now(),
        cohort=cohort,
        plan=checkin.plan_for(first, stage) if first else None,
        language=context.language if len(offered) > 1 else None,
    )
    await query.answer()
    await _close(query, texts("consent.agreed"))
    if session is None:
        await delivery.send_message(context.bot, chat_id, texts("checkin.nothing_for_stage"))
        return
    fresh = first is not None and session.checkin_id == first.id and session.step == 1
    header = checkin.begin_header(context, first) if fresh and first else texts("checkin.resumed")
    await checkin.show_current(chat_id, context, session, header)


async def _close(query, note: str) -> None:  # type: ignore[no-untyped-def]
    """Keep the consent text on screen, remove its buttons, and add what was decided."""
    text = query.message.text or ""
    try:
        await query.edit_message_text(f"{text}\n\n{note}"[:4096])
    except BadRequest:
        await delivery.send_message(query.get_bot(), query.message.chat_id, note)
    except TelegramError as exc:  # cosmetic: the decision is stored either way
        log.info("could not mark the consent message: %s", type(exc).__name__)
