"""/paid: a coordinator marks a payment made for someone's time, by their code name.

``/paid P-7KQ2MX 20 cash`` records £20 (``recognition.currency``) paid today (the project's time
zone) in cash; ``on 2026-03-01`` names another day. The reply confirms it and says what the
person asked for (a payment, a voucher, no payment, or to check their benefits first), so the
team sees it before money changes hands. It works where coordinators' commands work
(:mod:`bot.access`), is audited (:func:`team_only`), and never shows a name or id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.handlers.auditing import team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext
from bot.texts import money
from storage import payments

log = logging.getLogger(__name__)

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_WHOLE_DIGITS = 6  # up to 999,999 in the currency: more is surely a typing mistake


@dataclass(frozen=True)
class Paid:
    """A /paid command read: who, how much (minor units), how and on which day."""

    code: str
    amount_minor: int
    method: str
    day: date


@dataclass(frozen=True)
class Problem:
    """What is wrong with a /paid command: a locale key and what fills it in."""

    key: str
    values: dict[str, str]


def code_name(word: str) -> str:
    """A code name as typed ("p-7kq2mx", "7KQ2MX") as stored ("P-7KQ2MX")."""
    word = word.strip().upper()
    return word if word.startswith("P-") else f"P-{word}"


def amount_in_minor_units(text: str, places: int, symbol: str = "") -> int | None:
    """ "12.50" (or "£12.50") as 1250 when the currency has 2 places; None if unreadable or 0."""
    text = text.strip()
    if symbol and text.startswith(symbol):
        text = text[len(symbol) :]
    decimals = rf"(\.\d{{1,{places}}})?" if places else ""
    if not re.fullmatch(rf"\d{{1,{_MAX_WHOLE_DIGITS}}}{decimals}", text):
        return None
    minor = int(Decimal(text).scaleb(places))
    return minor if minor > 0 else None


def read_paid(words: list[str], places: int, today: date, symbol: str = "") -> Paid | Problem:
    """Read ``CODE AMOUNT [METHOD] [on YYYY-MM-DD]`` (method and day in either order)."""
    if len(words) < 2:
        return Problem("payments.usage", {})
    code, amount_text, *rest = words
    amount = amount_in_minor_units(amount_text, places, symbol)
    if amount is None:
        return Problem("payments.bad_amount", {"amount": amount_text})
    method: str | None = None
    day: date | None = None
    rest = [w for w in rest if w.lower() != "on"]  # "on 2026-03-01" or just the day
    for word in rest:
        if _DAY.match(word) and day is None:
            try:
                day = date.fromisoformat(word)
            except ValueError:
                return Problem("payments.bad_day", {"day": word})
        elif word.lower() in payments.METHODS and method is None:
            method = word.lower()
        elif _DAY.match(word) or word.lower() in payments.METHODS:
            return Problem("payments.usage", {})  # two days or two methods
        else:
            return Problem("payments.bad_method", {"method": word})
    day = day or today
    if day > today:
        return Problem("payments.future_day", {"day": day.isoformat()})
    return Paid(code_name(code), amount, method or "other", day)


@team_only("paid")
async def paid(update: Update, context: BotContext) -> None:
    """/paid CODE AMOUNT [METHOD] [on YYYY-MM-DD]: record a payment for someone's time."""
    from babel.numbers import get_currency_symbol

    settings, texts = context.settings, context.texts
    chat_id = chat_id_of(update)
    currency, locale = settings.recognition.currency, context.language
    places = payments.places_of(currency)
    now = context.services.clock.now()
    today = now.astimezone(ZoneInfo(settings.project.timezone)).date()
    symbol = str(get_currency_symbol(currency, locale=locale))
    read = read_paid(list(context.args or []), places, today, symbol)
    if isinstance(read, Problem):
        values = {"currency": currency, "example": money(Decimal("12.50"), currency, locale)}
        await context.bot.send_message(chat_id, texts(read.key, **values, **read.values))
        return
    recorded = await payments.record(
        context.db, read.code, read.amount_minor, currency, read.method, read.day, now
    )
    if recorded is None:
        await context.bot.send_message(chat_id, texts("payments.unknown_code", code=read.code))
        return
    payment = recorded.payment
    log.info("payments: recorded payment #%d", payment.id)
    lines = [
        texts(
            "payments.recorded",
            number=payment.id,
            amount=money(payment.amount(places), currency, locale),
            code=payment.pseudonym,
            method=payment.method,
            day=payment.paid_on,
        ),
        texts(f"payments.asked_{recorded.preference or 'unset'}"),
    ]
    await context.bot.send_message(chat_id, "\n".join(lines))


def register(app: Any) -> None:
    """/paid (coordinators only: the guard decides in which chats it works)."""
    app.add_handler(CommandHandler("paid", paid, filters=filters.UpdateType.MESSAGE))
