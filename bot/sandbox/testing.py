"""Helpers for running a real python-telegram-bot Application against a Sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram.ext import Application, ApplicationBuilder

from .server import Sandbox

TEST_TOKEN = "7000000001:sandbox-test-token-abcdefghij"


def application_builder(sandbox: Sandbox, token: str = TEST_TOKEN) -> ApplicationBuilder:
    """An ApplicationBuilder whose Bot talks to the sandbox instead of Telegram."""
    return (
        ApplicationBuilder()
        .token(sandbox.token or token)
        .base_url(f"{sandbox.url}/bot")
        .base_file_url(f"{sandbox.url}/file/bot")
    )


@asynccontextmanager
async def polling(application: Application, poll_timeout: int = 10) -> AsyncIterator[Application]:
    """Initialize, start polling and start the application; stop everything on exit.

    Long-poll timeouts are cheap here: Sandbox.stop() and PTB's shutdown both cut them short.
    """
    async with application:
        assert application.updater is not None, "build the application with an Updater"
        await application.updater.start_polling(poll_interval=0, timeout=poll_timeout)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
