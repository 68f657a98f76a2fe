"""The one wiring function: settings in, a ready python-telegram-bot Application out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import nudges
from bot.clock import Clock, SystemClock
from bot.handlers import (
    account,
    checkin,
    consent,
    coordinators,
    digest,
    nudge,
    other,
    preferences,
    safeguarding,
    updates,
)
from bot.processor import PerChatUpdateProcessor
from bot.services import SERVICES_KEY, BotContext, Services, services_of
from bot.settings import Settings
from bot.texts import Texts
from storage import participants
from storage.db import Database

log = logging.getLogger(__name__)

COMMANDS = (
    "checkin",
    "settings",
    "mydata",
    "pause",
    "resume",
    "stop",
    "delete",
    "support",
    "help",
    "privacy",
)
RETENTION_JOB = "retention"
NUDGE_JOB = "nudges"

Everystage = Application[Any, BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    texts: Texts | None = None,
    config_path: Path | None = None,
) -> Everystage:
    """Build the bot from settings. Nothing touches the network or disk until it starts."""
    token = settings.telegram.token
    if token is None:
        raise ValueError("no bot token: set EVERYSTAGE_TELEGRAM__TOKEN in the environment")
    builder = (
        ApplicationBuilder()
        .token(token.get_secret_value())
        .base_url(settings.telegram.base_url)
        .base_file_url(settings.telegram.base_file_url)
        .context_types(ContextTypes(context=BotContext))
        .concurrent_updates(PerChatUpdateProcessor(settings.telegram.concurrent_updates))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram.rate_limit:
        # Pace a little under Telegram's ~30 messages/s, so small timing differences between
        # our clock and Telegram's do not draw 429s (each one stalls every send for a second).
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=29, max_retries=3))
    application = builder.build()
    application.bot_data[SERVICES_KEY] = Services(
        settings=settings,
        texts=texts or Texts.load(settings.project.locale),
        clock=clock or SystemClock(),
        config_path=config_path,
    )
    _register(application)
    return application


def _register(app: Everystage) -> None:
    private = filters.ChatType.PRIVATE
    new = filters.UpdateType.MESSAGE
    groups = filters.ChatType.GROUPS

    # Coordinators' features first: their commands also work in the coordinators' group chat.
    # Safeguarding screens every private message in group -1, before it is handled as usual.
    for feature in (coordinators, safeguarding, updates, digest):
        feature.register(app)

    # Groups: a short note for commands and mentions, nothing stored, nothing else.
    app.add_handler(
        MessageHandler(
            groups & new & (filters.COMMAND | filters.Entity("mention")), other.group_note
        )
    )
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, other.edited))

    app.add_handler(CommandHandler("start", consent.start, filters=private & new))
    app.add_handler(CommandHandler("checkin", checkin.checkin_command, filters=private & new))
    app.add_handler(CommandHandler("settings", preferences.settings_command, filters=private & new))
    for name, callback in (
        ("mydata", account.mydata),
        ("delete", account.delete),
        ("pause", account.pause),
        ("resume", account.resume),
        ("stop", account.stop),
        ("help", account.help_command),
        ("privacy", account.privacy),
    ):
        app.add_handler(CommandHandler(name, callback, filters=private & new))

    app.add_handler(
        CallbackQueryHandler(
            consent.on_consent, pattern=r"^consent:(yes|no|more):\d+(:[A-Za-z0-9_-]{1,64})?$"
        )
    )
    app.add_handler(CallbackQueryHandler(checkin.on_button, pattern=r"^a:"))
    app.add_handler(CallbackQueryHandler(account.on_delete, pattern=r"^delete:(yes|no)$"))
    app.add_handler(CallbackQueryHandler(nudge.on_nudge, pattern=r"^n:"))
    app.add_handler(CallbackQueryHandler(preferences.on_settings, pattern=r"^set:"))
    app.add_handler(CallbackQueryHandler(other.stale_button))

    app.add_handler(MessageHandler(private & new & filters.COMMAND, other.unknown_command))
    app.add_handler(MessageHandler(private & new & filters.TEXT, checkin.on_text))
    app.add_handler(
        MessageHandler(private & new & (filters.VOICE | filters.AUDIO), checkin.on_voice)
    )
    app.add_handler(MessageHandler(private & new, checkin.on_other))
    app.add_error_handler(other.on_error)  # type: ignore[arg-type]


async def _post_init(app: Everystage) -> None:
    services = services_of(app)
    settings = services.settings
    services._db = await Database.open(settings.storage.path)
    await apply_retention(app)
    await nudges.sync_stage(app)
    if app.job_queue is not None:
        app.job_queue.run_repeating(
            _retention_job, interval=timedelta(days=1), first=timedelta(days=1), name=RETENTION_JOB
        )
        app.job_queue.run_repeating(
            _nudge_job,
            interval=settings.nudges.check_every_seconds,
            first=1,
            name=NUDGE_JOB,
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
    await register_commands(app)


async def _post_shutdown(app: Everystage) -> None:
    services = services_of(app)
    if services._db is not None:
        await services._db.close()
        services._db = None


async def register_commands(app: Everystage) -> None:
    """Publish the command list; Telegram being unhappy with it must not stop the bot."""
    texts = services_of(app).texts
    commands = [BotCommand(name, texts(f"commands.{name}")) for name in COMMANDS]
    try:
        await app.bot.set_my_commands(commands)
    except TelegramError as exc:
        log.warning("could not register the command list: %s", exc)


async def apply_retention(app: Everystage) -> int:
    """Erase answers older than ``storage.retention_days``."""
    services = services_of(app)
    storage = services.settings.storage
    cutoff = services.clock.now() - timedelta(days=storage.retention_days)
    erased = await participants.erase_older_than(services.db, cutoff, storage.files_path)
    if erased:
        log.info("retention: erased %d answers older than %d days", erased, storage.retention_days)
    return erased


async def _retention_job(context: BotContext) -> None:
    await apply_retention(context.application)


async def _nudge_job(context: BotContext) -> None:
    await nudges.tick(context.application)


@asynccontextmanager
async def serving(app: Everystage, poll_timeout: float | None = None) -> AsyncIterator[Everystage]:
    """Run the bot inside an existing event loop (tests, the demo) until the block ends.

    The same steps as ``run_polling``: initialize, post_init, poll, start; on exit stop
    polling, handle every update already fetched, then post_shutdown and shutdown.
    """
    timeout = (
        poll_timeout
        if poll_timeout is not None
        else services_of(app).settings.telegram.poll_timeout
    )
    async with app:
        assert app.post_init is not None and app.post_shutdown is not None
        await app.post_init(app)
        try:
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=int(timeout), allowed_updates=Update.ALL_TYPES
            )
            await app.start()
            try:
                yield app
            finally:
                await app.updater.stop()
                await app.stop()
        finally:
            await app.post_shutdown(app)
