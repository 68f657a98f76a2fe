"""/settings: how often to be asked, quiet hours, time zone, "what we heard" and how they want
their time recognised (payment, voucher, none, or check benefits first), with buttons."""

from __future__ import annotations

import contextlib
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import CommandHandler

from bot.callbacks import Button, parse
from bot.handlers import weekly_digest
from bot.handlers.common import PRIVATE_NEW, chat_id_of, consented
from bot.outreach import quiet_of
from bot.services import BotContext
from bot.texts import place_of
from conversations.schedule import FREQUENCIES
from storage import participants, payments
from storage.participants import Participant

QUIET_CHOICES = ("21:00-09:00", "22:00-08:00", "20:00-10:00", "off")


def _summary(context: BotContext, person: Participant) -> str:
    texts = context.texts
    quiet = quiet_of(context.services, person.quiet_hours)
    return texts(
        "settings.summary",
        frequency=texts(f"settings.frequency_{person.frequency}"),
        quiet=(f"{quiet.start:%H:%M}–{quiet.end:%H:%M}" if quiet else texts("settings.quiet_off")),
        timezone=place_of(person.timezone or context.settings.project.timezone, context.language),
        heard=texts("settings.heard_yes" if person.hear_results else "settings.heard_no"),
        recognition=texts(f"settings.recognition_is_{person.recognition or 'unset'}"),
    )


def _menu(context: BotContext) -> InlineKeyboardMarkup:
    texts = context.texts

    def button(label: str, which: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(texts(label), callback_data=Button.SETTINGS.data("menu", which))

    # Two to a row: on a small phone the summary and the first buttons stay on one screen.
    return InlineKeyboardMarkup(
        [
            [button("settings.how_often", "f"), button("settings.quiet_hours", "q")],
            [button("settings.time_zone", "z"), button("quote.settings_button", "m")],
            [button("settings.heard", "h"), button("settings.recognition", "r")],
            [
                *(
                    [
                        InlineKeyboardButton(
                            texts("language.button"), callback_data=Button.LANGUAGE.data("-")
                        )
                    ]
                    if len(context.settings.project.offered) > 1
                    else []
                ),
                InlineKeyboardButton(
                    texts("settings.close"), callback_data=Button.SETTINGS.data("close", "-")
                ),
            ],
        ]
    )


def _choices(context: BotContext, which: str) -> tuple[str, InlineKeyboardMarkup]:
    texts = context.texts
    if which == "f":
        rows = [
            (texts(f"settings.frequency_{f}"), Button.SETTINGS.data("f", f)) for f in FREQUENCIES
        ]
        prompt = texts("settings.pick_frequency")
    elif which == "q":
        rows = [
            (
                texts("settings.quiet_off") if q == "off" else q.replace("-", "–"),
                Button.SETTINGS.data("q", i),
            )
            for i, q in enumerate(QUIET_CHOICES)
        ]
        prompt = texts("settings.pick_quiet")
    elif which == "h":
        rows = [
            (texts("settings.heard_on"), Button.SETTINGS.data("h", "1")),
            (texts("settings.heard_off"), Button.SETTINGS.data("h", "0")),
        ]
        prompt = texts("settings.pick_heard")
    elif which == "r":
        rows = [
            (texts(f"settings.recognition_{r}"), Button.SETTINGS.data("r", r))
            for r in payments.PREFERENCES
        ]
        prompt = texts("settings.pick_recognition")
    else:
        zones = context.settings.nudges.time_zones
        locale = context.language
        rows = [
            (place_of(zone, locale), Button.SETTINGS.data("z", i)) for i, zone in enumerate(zones)
        ]
        prompt = texts("settings.pick_zone")
    return prompt, InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data)] for label, data in rows]
    )


async def settings_command(update: Update, context: BotContext) -> None:
    """/settings: show the current choices with buttons to change them."""
    person = await consented(update, context)
    if person is not None:
        await context.bot.send_message(
            chat_id_of(update), _summary(context, person), reply_markup=_menu(context)
        )


async def on_settings(update: Update, context: BotContext) -> None:
    """``set:menu:<f|q|z|h|r|m>``, ``set:<f|q|z|h|r>:<value>``, ``set:close:-``."""
    query = update.callback_query
    assert query is not None
    parsed = parse(query.data)
    person = await consented(update, context)
    if person is None or parsed is None or len(parsed.args) != 2:
        await query.answer(context.texts("hint.stale"))
        return
    what, value = parsed.args
    if what == "menu" and value == "m":  # may we quote you: answered by quote:yes/no
        await query.answer()
        prompt = await weekly_digest.quote_choice_text(person.chat_id, context)
        await _edit(query, prompt, weekly_digest.quote_keyboard(context))
        return
    if what == "menu":
        await query.answer()
        prompt, keyboard = _choices(context, value)
        await _edit(query, prompt, keyboard)
        return
    if what == "close":
        await query.answer()
        await _edit(query, _summary(context, person), None)
        return
    name, stored = _decode(context, what, value)
    if name is None:
        await query.answer(context.texts("hint.stale"))
        return
    await participants.set_preference(context.db, person.id, name, stored)
    await query.answer(context.texts("settings.saved"))
    updated = await participants.by_chat(context.db, person.chat_id)
    assert updated is not None
    await _edit(query, _summary(context, updated), _menu(context))
    if name == "recognition" and stored == "benefits_check":
        # Payments can affect benefits: say, kindly, that the team talks it through first.
        await context.bot.send_message(person.chat_id, context.texts("settings.benefits_note"))


def _decode(context: BotContext, what: str, value: str) -> tuple[str | None, str | int | None]:
    if what == "h" and value in ("0", "1"):
        return "hear_results", int(value)
    if what == "r" and value in payments.PREFERENCES:
        return "recognition", value
    if what == "f" and value in FREQUENCIES:
        return "frequency", value
    if what == "q" and value.isdigit() and int(value) < len(QUIET_CHOICES):
        return "quiet_hours", QUIET_CHOICES[int(value)]
    zones = context.settings.nudges.time_zones
    if what == "z" and value.isdigit() and int(value) < len(zones):
        return "timezone", zones[int(value)]
    return None, None


async def _edit(query, text: str, keyboard: InlineKeyboardMarkup | None) -> None:  # type: ignore[no-untyped-def]
    # Choosing what is already set leaves the message unchanged, which Telegram refuses.
    with contextlib.suppress(BadRequest):
        await query.edit_message_text(text, reply_markup=keyboard)


def register(app: Any) -> None:
    """/settings and its buttons (private chats only: see bot/access.py)."""
    app.add_handler(CommandHandler("settings", settings_command, filters=PRIVATE_NEW))
    app.add_handler(Button.SETTINGS.handler(on_settings))
