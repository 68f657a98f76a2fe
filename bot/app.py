"""The one wiring function: settings in, a ready python-telegram-bot Application out."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
)

from bot import language, leader, outreach
from bot.clock import Clock, SystemClock
from bot.commands import COMMANDS as COMMANDS  # the participants' menu, re-exported
from bot.commands import register_commands
from bot.filemodes import secure_files
from bot.handlers import (
    account,
    checkin,
    consent,
    coordinators,
    decide,
    got_it,
    guard,
    heard,
    listen,
    nudge,
    other,
    payments,
    preferences,
    safeguarding,
    suggest,
    voice_words,
    weekly_digest,
    you_said,
)
from bot.handlers import language as language_choice
from bot.inbox import Inbox
from bot.polling import WAITS, Poller, token_problem, unreachable_line
from bot.processor import PerChatUpdateProcessor
from bot.services import SERVICES_KEY, BotContext, Services, services_of
from bot.settings import Settings
from bot.telegram_bot import build_bot
from bot.texts import Texts
from bot.webhook import WebhookServer
from storage import handovers, participants, transcripts
from storage import inbox as inbox_store
from storage import payments as payment_store
from storage.db import Database

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"
NUDGE_JOB = "nudges"
PROMPT_JOB = "undelivered-questions"
SCRUB_JOB = "scrub"
PROMPT_CHECK_SECONDS = 15.0
SCRUB_SECONDS = 30.0
INBOX_MEMORY = timedelta(days=2)  # Telegram keeps an unconfirmed update for 24 hours

Everystage = Application[Any, BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    texts: Texts | None = None,
    config_path: Path | None = None,
) -> Everystage:
    """Build the bot from settings. Nothing touches the network or disk until it starts."""
    if settings.telegram.token is None:
        raise ValueError("no bot token: set EVERYSTAGE_TELEGRAM__TOKEN in the environment")
    application = (
        ApplicationBuilder()
        .bot(build_bot(settings))
        # Updates come through the durable inbox (bot/polling.py), not PTB's Updater.
        .updater(None)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerChatUpdateProcessor(settings.telegram.concurrent_updates))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data[SERVICES_KEY] = Services(
        settings=settings,
        texts=texts or Texts.load(settings.project.locale),
        clock=clock or SystemClock(),
        config_path=config_path,
    )
    _register(application)
    return application


# Every feature, in the order its handlers are tried (python-telegram-bot takes the first match
# in each handler group). Each module's ``register(app)`` adds its own handlers.
FEATURES = (
    guard,  # group -100: who may use which command or button, where (bot.access)
    language,  # group -99: the language of the person each update came from
    you_said,  # /update; a coordinator's draft text in group -2, before anything else
    safeguarding,  # screens every private message in group -1; /support, /alerts
    coordinators,  # /stats, /stage, /ask, /reload (also in the coordinators' chat)
    listen,  # /listen: voice notes nobody has heard; the words a coordinator types, group -3
    payments,  # /paid: a payment made for someone's time, by code name
    heard,  # /share: what everyone said, to the people who answered
    weekly_digest,  # /digest, the quote-consent buttons, the weekly job
    consent,  # /start and the consent buttons
    account,  # /mydata, /delete, /pause, /resume, /stop, /help, /privacy
    preferences,  # /settings
    language_choice,  # /language and the language buttons
    got_it,  # Yes / Partly / No under an update, and replies saying what we missed
    voice_words,  # "Here's what I heard" under a voice note: right / fix it / audio only
    suggest,  # /suggest, the team's Adopt / Not now / Reply, and their replies
    decide,  # /decide, the votes, the results
    nudge,  # the buttons on a nudge
    checkin,  # /checkin, answer buttons, typed and spoken answers
    other,  # last: groups, edits, unknown commands, stale buttons, errors
)


def _register(app: Everystage) -> None:
    for feature in FEATURES:
        feature.register(app)


async def _post_init(app: Everystage) -> None:
    services = services_of(app)
    settings = services.settings
    services.attach(await Database.open(settings.storage))  # SQLite or PostgreSQL
    # PostgreSQL: one of possibly several webhook workers, or the one long-polling
    # process; which jobs each runs: bot/leader.py.
    worker = await leader.start(app, services.db, webhook=services.webhook)
    if worker is not None:
        worker.every_sweep(lambda: outreach.settle_abandoned(app))
        worker.every_sweep(lambda: outreach.refresh_stage(app))
        worker.after_takeover(lambda: checkin.resend_undelivered(app))
        worker.on_elected(lambda: weekly_digest.deliver_due(app, grace=weekly_digest.CATCH_UP))
    await secure_files(app)
    if leader.is_leader(app):
        await apply_retention(app)
    await outreach.sync_stage(app)
    # Sends a previous run started and never heard back about: each goes out once more.
    await outreach.recover_in_flight(app)
    if app.job_queue is not None:
        once = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        app.job_queue.run_repeating(
            _retention_job, interval=timedelta(days=1), first=timedelta(days=1), name=RETENTION_JOB
        )
        app.job_queue.run_repeating(
            _nudge_job,
            interval=settings.nudges.check_every_seconds,
            first=1,
            name=NUDGE_JOB,
            job_kwargs=once,
        )
        app.job_queue.run_repeating(
            _prompt_job,
            interval=PROMPT_CHECK_SECONDS,
            first=PROMPT_CHECK_SECONDS,
            name=PROMPT_JOB,
            job_kwargs=once,
        )
        app.job_queue.run_repeating(
            _scrub_job,
            interval=SCRUB_SECONDS,
            first=SCRUB_SECONDS,
            name=SCRUB_JOB,
            job_kwargs=once,
        )
    await register_commands(app)
    await _start_transcriber(app)


async def _start_transcriber(app: Everystage) -> None:
    """Voice notes into words, in worker processes (``[voice]``)."""
    from bot.voice.transcriber import Transcriber  # late: its engines load only when on

    services = services_of(app)
    settings = services.settings
    if not settings.voice.transcribe:
        return
    if not settings.storage.is_postgres:
        # The only process on this database: a claim a killed run left need not run out.
        await transcripts.release_all(services.db)
    services.transcriber = Transcriber(
        settings.voice,
        services.db,
        settings.storage.files_path,
        services.clock.now,
        lambda job, words: voice_words.on_words(app, job, words),
        default_language=settings.project.locale,
    )
    services.transcriber.start()


async def _post_shutdown(app: Everystage) -> None:
    services = services_of(app)
    if services.transcriber is not None:
        await services.transcriber.stop()
        services.transcriber = None
    processor = app.update_processor
    if isinstance(processor, PerChatUpdateProcessor):
        await processor.stop_draining()  # chats a sweep took over, finished first
        processor.share(None)
    await leader.stop(app)
    await services.close_db()


async def apply_retention(app: Everystage) -> int:
    """Erase answers older than ``storage.retention_days``, and digest files of those weeks;
    payment records older than ``recognition.retention_years``."""
    from bot.digest import files as digest_files

    services = services_of(app)
    storage = services.settings.storage
    cutoff = services.clock.now() - timedelta(days=storage.retention_days)
    erased = await participants.erase_older_than(services.db, cutoff, storage.files_path)
    if erased:
        log.info("retention: erased %d answers older than %d days", erased, storage.retention_days)
    # A voice note's words were also in its "Here's what I heard" message: gone with it.
    if await transcripts.forget_orphans(services.db):
        await services.db.scrub(["outbox"])
    await digest_files.prune(app, cutoff)
    years = services.settings.recognition.retention_years
    today = services.clock.now().astimezone(ZoneInfo(services.settings.project.timezone)).date()
    paid = await payment_store.erase_older_than(
        services.db, payment_store.retention_cutoff(today, years)
    )
    if paid:
        log.info("retention: deleted %d payment records older than %d years", paid, years)
    await handovers.expire(services.db, services.clock.now())
    # Handled updates are remembered (without content) only while Telegram may repeat them.
    await inbox_store.prune(services.db, services.clock.now() - INBOX_MEMORY)
    return erased


async def _retention_job(context: BotContext) -> None:
    if leader.is_leader(context.application):
        await apply_retention(context.application)


async def _nudge_job(context: BotContext) -> None:
    # Every worker sends what is due (claimed, so once); only the leader plans (bot/leader.py).
    # A tick can outlast the interval (a broadcast to thousands at Telegram's pace) and claims
    # until nothing is due, so while one runs there is nothing to start; and it runs as a task
    # of its own, so the scheduler does not warn every interval that the job is still running.
    app = context.application
    await decide.close_due_if_leading(app)  # results queued before the tick sends them
    if not services_of(app).nudge_lock.locked():
        app.create_task(outreach.tick(app), name="everystage:nudges")


async def _prompt_job(context: BotContext) -> None:
    if leader.is_leader(context.application):
        await checkin.resend_undelivered(context.application)


async def _scrub_job(context: BotContext) -> None:
    await scrub(context.application)


async def scrub(app: Everystage) -> None:
    """Truncate the WAL, so what handled updates carried (erased in the database) is gone
    from every file within ``SCRUB_SECONDS``, not only after SQLite's own checkpoints.
    (Nothing yet on PostgreSQL: see ``Database.checkpoint``.)"""
    services = services_of(app)
    if services.db_open:
        await services.db.checkpoint()


async def _initialize(app: Everystage) -> None:
    """Reach the Bot API (getMe), waiting while it cannot be reached; a refused token or
    address is a StartupError."""
    api = services_of(app).settings.telegram.api_base_url
    for attempt in itertools.count():
        try:
            await app.bot.initialize()
            break
        except InvalidToken as exc:
            raise token_problem(exc, api) from None
        except TelegramError as exc:
            wait = WAITS[min(attempt, len(WAITS) - 1)]
            log.warning(unreachable_line(api, exc, wait))
            await asyncio.sleep(wait)
    await app.initialize()


async def _no_webhook(app: Everystage) -> None:
    """Before long polling: getUpdates is refused while a webhook is set. (Only once the
    database said this process may serve the project: deleting the webhook of running
    webhook workers would cut them off.)"""
    try:
        await app.bot.delete_webhook()
    except TelegramError as exc:
        log.warning("could not make sure no webhook is set: %s", type(exc).__name__)


@asynccontextmanager
async def serving(
    app: Everystage, poll_timeout: float | None = None, *, webhook: bool = False
) -> AsyncIterator[Everystage]:
    """Run the bot inside an existing event loop (``everystage run``, tests, the demo).

    Reach Telegram, open the database (post_init), queue the updates a previous run stored but
    did not finish, start handling, then take updates through the inbox: by long polling, or
    with ``webhook`` from Telegram's webhook (bot/webhook.py: listen on telegram.webhook_listen,
    then setWebhook). On exit stop taking updates (polling: stop; webhook: drain, answering 503
    while the deliveries being stored finish), handle every update already received, then
    stop listening, post_shutdown and shutdown. Raises StartupError when Telegram refuses the
    token, the address or the webhook, or the webhook's address cannot be listened on.
    """
    services = services_of(app)
    telegram = services.settings.telegram
    timeout = poll_timeout if poll_timeout is not None else telegram.poll_timeout
    processor = app.update_processor
    assert isinstance(processor, PerChatUpdateProcessor)
    services.webhook = webhook
    try:
        await _initialize(app)
        assert app.post_init is not None
        await app.post_init(app)
        if not webhook:  # setWebhook (bot/webhook.py) replaces any webhook
            await _no_webhook(app)
        worker = leader.worker_of(app)
        inbox = Inbox(app, worker)
        processor.track(inbox.finish)
        if worker is not None:  # several workers: chats' turns are taken across them
            processor.share(inbox)
        # Checked before anything starts: a webhook needs its URL and secret.
        receiver = WebhookServer(app, inbox, telegram, Update.ALL_TYPES) if webhook else None
        await inbox.recover()
        await app.start()
        source = receiver or Poller(
            app.bot, inbox, telegram.api_base_url, int(timeout), Update.ALL_TYPES
        )
        services.poller = source
        try:
            await source.start()
            # Questions that were on their way when the last run stopped go out now.
            app.create_task(checkin.resend_undelivered(app, everything=True))
            yield app
        finally:
            await source.stop()  # a webhook drains: 503 to new deliveries, and /readyz
            await app.stop()
            if receiver is not None:
                await receiver.close()
    finally:
        processor.track(None)
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        if app._initialized:
            await app.shutdown()
