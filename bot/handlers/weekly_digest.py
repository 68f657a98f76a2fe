"""The weekly digest: sent to the coordinators' chat once a week, and /digest on demand.

Delivery is exactly-once per ISO week, across restarts: the week is claimed in the
``digests`` table before anything is sent, so a second process, a restart or the start-up
catch-up finds it taken. A claimed week whose sending failed is not retried (``sent_at``
stays empty and the error is logged): a coordinator can still ask with ``/digest WEEK``.

Also here: the quote-consent question ("May we quote your words...?") and its buttons.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import BadRequest
from telegram.ext import CommandHandler, filters

from bot import leader
from bot.callbacks import Button, parse
from bot.digest import charts, content, html, markdown, tables, weeks
from bot.digest.files import output_dir, write_files  # the files on disk; re-exported here
from bot.handlers import heard
from bot.handlers.auditing import team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext, services_of
from conversations.schedule import parse_clock
from storage import figures

log = logging.getLogger(__name__)

WEEKLY_JOB = "digest"
CATCH_UP_JOB = "digest-catch-up"
# After a restart, a digest due less than this long ago (and not yet claimed) is sent.
CATCH_UP = timedelta(days=2)
CATCH_UP_DELAY = 60.0  # seconds after start-up


def register(app: Any) -> None:
    """Add /digest, the quote-consent buttons, and the weekly job."""
    app.add_handler(CommandHandler("digest", digest_command, filters=filters.UpdateType.MESSAGE))
    app.add_handler(Button.QUOTE.handler(on_quote))
    if app.job_queue is None:  # pragma: no cover - the job-queue extra is a dependency
        return
    settings = services_of(app).settings
    when = parse_clock(settings.digest.time).replace(tzinfo=ZoneInfo(settings.project.timezone))
    # python-telegram-bot counts days from Sunday (0) to Saturday (6).
    day = (weeks.WEEKDAYS.index(settings.digest.weekday) + 1) % 7
    app.job_queue.run_daily(_weekly_job, time=when, days=(day,), name=WEEKLY_JOB)
    app.job_queue.run_once(_catch_up_job, when=CATCH_UP_DELAY, name=CATCH_UP_JOB)


# ---------------------------------------------------------------------------------------------
# Making the files.


@dataclass(frozen=True)
class Rendered:
    """One digest in every format."""

    digest: content.Digest
    markdown: str
    html: str
    csv: str
    chart_png: bytes
    power_csv: str


def render_all(digest: content.Digest) -> Rendered:
    """Every format (CPU-bound: charts; call it in a thread)."""
    return Rendered(
        digest,
        markdown.render(digest),
        html.render(digest),
        tables.render(digest),
        charts.headline_png(digest),
        tables.render_power(digest),
    )


async def make(app: Any, week: str) -> Rendered:
    """Compute and render a week's digest, and write it to the output folder."""
    services = services_of(app)
    digest = await content.compute(services.db, services.settings, week)
    rendered = await asyncio.to_thread(render_all, digest)
    await asyncio.to_thread(write_files, rendered, output_dir(services.settings))
    return rendered


async def send(app: Any, chat_id: int, rendered: Rendered) -> None:
    """Summary message, the HTML file, and one chart as a photo."""
    week = rendered.digest.week
    texts = services_of(app).texts
    await app.bot.send_message(chat_id, markdown.summary(rendered.digest))
    await app.bot.send_document(
        chat_id,
        InputFile(rendered.html.encode("utf-8"), filename=f"digest-{week}.html"),
        caption=texts("digest.caption", week=week),
    )
    chart = rendered.chart_png
    caption = texts("digest.chart_caption", week=week)
    try:
        await app.bot.send_photo(
            chat_id, InputFile(chart, filename=f"digest-{week}.png"), caption=caption
        )
    except BadRequest as exc:
        # A photo Telegram (or a stand-in without sendPhoto) refuses still goes, as a file.
        log.info("digest %s: chart sent as a file (%s)", week, exc.message)
        await app.bot.send_document(
            chat_id, InputFile(chart, filename=f"digest-{week}.png"), caption=caption
        )


# ---------------------------------------------------------------------------------------------
# Weekly delivery, exactly once.


async def deliver(app: Any, week: str) -> bool:
    """Claim the week, then make and send its digest. False if it was claimed before."""
    services = services_of(app)
    db, settings = services.db, services.settings
    if not await figures.claim_week(db, week, services.clock.now()):
        log.info("digest %s: already sent", week)
        return False
    rendered = await make(app, week)
    # The people who answered hear what everyone said (queued: sent once, whatever happens).
    # Failing that must not keep the digest from the team: /share can send it later.
    try:
        await heard.share_week(app, rendered.digest)
    except Exception as exc:
        log.error("digest %s: what we heard was not queued (%s)", week, type(exc).__name__)
    chat = settings.coordinators.chat_id
    if chat is None:
        log.warning(
            "digest %s: written to %s; no coordinators.chat_id to send it to",
            week,
            output_dir(settings),
        )
    else:
        try:
            await send(app, chat, rendered)
        except Exception:
            log.exception("digest %s: claimed but could not be sent; use /digest %s", week, week)
            return True
    await figures.mark_sent(db, week, services.clock.now())
    log.info("digest %s: sent", week)
    return True


async def deliver_due(app: Any, grace: timedelta | None = None) -> str | None:
    """Send the latest week whose digest is due, if not sent yet; the week sent, or None."""
    services = services_of(app)
    settings = services.settings
    now = services.clock.now()
    week, due = weeks.latest_due(
        now, settings.project.timezone, settings.digest.weekday, parse_clock(settings.digest.time)
    )
    if grace is not None and now - due > grace:
        return None
    return week if await deliver(app, week) else None


async def _weekly_job(context: BotContext) -> None:
    if leader.is_leader(context.application):  # with several workers, the leader sends it
        await deliver_due(context.application)


async def _catch_up_job(context: BotContext) -> None:
    if leader.is_leader(context.application):
        await deliver_due(context.application, grace=CATCH_UP)


# ---------------------------------------------------------------------------------------------
# /digest [WEEK]


@team_only("digest")
async def digest_command(update: Update, context: BotContext) -> None:
    """/digest: this week so far; /digest 2026-W48: that week. Not counted as the weekly one."""
    chat_id = chat_id_of(update)
    texts = context.texts
    if context.args:
        try:
            weeks.parse_week(context.args[0])
        except ValueError:
            await context.bot.send_message(chat_id, texts("digest.usage"))
            return
        week = context.args[0].strip()
    else:
        week = weeks.week_of(context.services.clock.now(), context.settings.project.timezone)
    await context.bot.send_message(chat_id, texts("digest.making", week=week))
    rendered = await make(context.application, week)
    await send(context.application, chat_id, rendered)


# ---------------------------------------------------------------------------------------------
# Quote consent.


def quote_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    """[Yes, you can] [No thanks]."""
    texts = context.texts
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(texts("quote.yes"), callback_data=Button.QUOTE.data("yes")),
                InlineKeyboardButton(texts("quote.no"), callback_data=Button.QUOTE.data("no")),
            ]
        ]
    )


async def ask_quote_once(chat_id: int, context: BotContext) -> None:
    """After a check-in: ask about quoting if this person has never been asked."""
    answer, asked = await figures.may_quote(context.db, chat_id)
    if asked or answer is not None:
        return
    if await figures.mark_quote_asked(context.db, chat_id, context.services.clock.now()):
        await context.bot.send_message(
            chat_id, context.texts("quote.ask"), reply_markup=quote_keyboard(context)
        )


async def quote_choice_text(chat_id: int, context: BotContext) -> str:
    """The question as /settings shows it, with the current answer."""
    answer, _ = await figures.may_quote(context.db, chat_id)
    current = {True: "quote.now_yes", False: "quote.now_no", None: "quote.now_unset"}[answer]
    return context.texts("quote.ask_settings", current=context.texts(current))


async def on_quote(update: Update, context: BotContext) -> None:
    """``quote:yes`` / ``quote:no``, from the question after a check-in or from /settings."""
    query = update.callback_query
    assert query is not None
    pressed = parse(query.data)
    if pressed is None or pressed.args not in (("yes",), ("no",)):
        await query.answer(context.texts("hint.stale"))
        return
    allowed = pressed.args == ("yes",)
    stored = await figures.set_may_quote(
        context.db, chat_id_of(update), allowed, context.services.clock.now()
    )
    if not stored:
        await query.answer(context.texts("hint.stale"))
        return
    await query.answer()
    await query.edit_message_text(
        context.texts("quote.thanks_yes" if allowed else "quote.thanks_no")
    )
