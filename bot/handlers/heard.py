"""What we heard: after a check-in's week, the people who answered it hear what everyone said.

It goes out with the weekly digest (for the week the digest covers, every check-in that week),
and when a coordinator sends ``/share CHECKIN`` (this week so far); the same command from a peer
researcher only shows them the message, to see what people would hear. Each person gets it at most
once per check-in and week (the outbox key ``heard:<check-in>:<week>``), through the outbox:
quiet hours respected, sent once across restarts and workers. People who turned it off in
/settings, paused or stopped get nothing. The message itself: bot/heard.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot import heard, outreach
from bot.access import Role
from bot.digest import content, weeks
from bot.handlers.auditing import role_here, team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext, services_of
from conversations.model import CheckIn
from storage import figures, outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Shared:
    """What sharing one check-in's week did: whether there was anything to show, and to how
    many people it was newly queued."""

    shown: bool
    queued: int


def register(app: Any) -> None:
    """/share (the guard lets only the team use it)."""
    app.add_handler(CommandHandler("share", share_command, filters=filters.UpdateType.MESSAGE))


def key_of(checkin_id: str, week: str) -> str:
    """The outbox key: one message per person, check-in and week."""
    return f"heard:{checkin_id}:{week}"


async def share(app: Any, digest: content.Digest, checkin: CheckIn) -> Shared:
    """Queue what we heard in ``checkin`` during the digest's week for the people who answered."""
    services = services_of(app)
    if heard.render(services.texts, digest, checkin.id, checkin.title) is None:
        return Shared(False, 0)

    def text(language: str | None) -> str:
        theirs = services.settings_in(language).checkin(checkin.id) or checkin
        made = heard.render(
            services.texts_in(language), digest, checkin.id, checkin.title, theirs.title
        )
        assert made is not None  # the same figures: shown in every language or none
        return made

    start, end = weeks.bounds(digest.week, services.settings.project.timezone)
    people = await figures.contributors(services.db, checkin.id, start, end)
    queued = await outbox.queue_outbox(
        services.db, people, key_of(checkin.id, digest.week), text, services.clock.now()
    )
    return Shared(True, queued)


async def share_week(app: Any, digest: content.Digest) -> int:
    """With the weekly digest: every check-in of its week; how many messages were queued."""
    queued = 0
    for checkin in services_of(app).settings.checkins:
        queued += (await share(app, digest, checkin)).queued
    if queued:
        log.info("what we heard in %s: queued for %d people", digest.week, queued)
        app.create_task(outreach.tick(app), name="everystage:heard")
    return queued


@team_only("share")
async def share_command(update: Update, context: BotContext) -> None:
    """/share CHECKIN: what everyone said in it this week so far, to the people who answered;
    from a peer researcher, to them only."""
    services, texts, settings = context.services, context.texts, context.settings
    chat_id = chat_id_of(update)
    checkin = settings.checkin(context.args[0] if context.args else "")
    if checkin is None:
        ids = ", ".join(c.id for c in settings.checkins)
        await context.bot.send_message(chat_id, texts("coord.share_which", checkins=ids))
        return
    week = weeks.week_of(services.clock.now(), settings.project.timezone)
    digest = await content.compute(context.db, settings, week)
    if role_here(update, context) < Role.COORDINATOR:
        await _preview(context, chat_id, digest, checkin)
        return
    result = await share(context.application, digest, checkin)
    if not result.shown:
        reply = texts("coord.share_too_few", title=checkin.title, k=digest.min_group_size)
    elif result.queued == 0:
        reply = texts("coord.share_nobody_new", title=checkin.title)
    else:
        reply = texts("coord.share_sending", title=checkin.title, people=result.queued)
        context.application.create_task(outreach.tick(context.application))
    await context.bot.send_message(chat_id, reply)


async def _preview(
    context: BotContext, chat_id: int, digest: content.Digest, checkin: CheckIn
) -> None:
    """What the people who answered would hear, shown to a peer researcher only."""
    texts = context.texts
    text = heard.render(texts, digest, checkin.id, checkin.title)
    if text is None:
        reply = texts("coord.share_too_few", title=checkin.title, k=digest.min_group_size)
    else:
        reply = f"{texts('coord.share_preview', title=checkin.title)}\n\n{text}"
    await context.bot.send_message(chat_id, reply[:4096])
