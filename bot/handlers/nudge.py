"""The buttons on a nudge: start now, or remind me later (in an hour / tomorrow)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import TelegramError

from bot.callbacks import Button, parse
from bot.handlers import checkin
from bot.handlers.common import chat_id_of, consented
from bot.outreach import HOUR, START, TOMORROW, quiet_of, zone_of
from bot.services import BotContext
from storage import outbox


async def on_nudge(update: Update, context: BotContext) -> None:
    """``n:<occurrence>:<start|hour|tomorrow>``."""
    query = update.callback_query
    assert query is not None
    texts, services = context.texts, context.services
    parsed = parse(query.data)
    person = await consented(update, context)
    if person is None or parsed is None or len(parsed.args) != 2 or not parsed.args[0].isdigit():
        await query.answer(texts("hint.stale"))
        return
    occurrence = await outbox.occurrence(context.db, int(parsed.args[0]), person.id)
    if occurrence is None:
        await query.answer(texts("hint.stale"))
        return
    action = parsed.args[1]
    await query.answer()
    if action == START:
        await _close(query, "")
        await checkin.begin(
            chat_id_of(update), context, person, occurrence["checkin_id"], occurrence["id"]
        )
        return
    if action not in (HOUR, TOMORROW):
        return
    now = services.clock.now()
    zone = zone_of(services, person.timezone)
    until = now + (timedelta(hours=1) if action == HOUR else timedelta(days=1))
    quiet = quiet_of(services, person.quiet_hours)
    if quiet is not None:
        until = quiet.defer(until, zone)
    if not await outbox.snooze(context.db, occurrence["id"], person.id, until):
        await _close(query, texts("nudge.gone"))
        return
    local = until.astimezone(zone)
    when = texts.time_of_day(local, today=local.date() == now.astimezone(zone).date())
    await _close(query, texts("nudge.snoozed", when=when))


async def _close(query, note: str) -> None:  # type: ignore[no-untyped-def]
    """Remove the nudge's buttons, adding a note of what was chosen."""
    text = query.message.text or ""
    with contextlib.suppress(TelegramError):  # cosmetic: the choice is made either way
        await query.edit_message_text(f"{text}\n\n{note}".strip()[:4096])


def register(app: Any) -> None:
    """The buttons on a nudge."""
    app.add_handler(Button.NUDGE.handler(on_nudge))
