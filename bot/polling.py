"""Long polling through the durable inbox.

python-telegram-bot's Updater confirms updates to Telegram as soon as it has fetched them, and
one it cannot parse makes it fetch the same batch again and again. This loop calls getUpdates
itself (a plain ``HTTPXRequest`` from python-telegram-bot, so errors are the usual
``telegram.error`` ones) and gets the raw JSON, hands each batch to the inbox, which writes
it to disk, and only then asks for the next batch, whose ``offset`` confirms the previous one.

Trouble reaching Telegram is logged once per outage ("cannot reach ... retrying in N s") with
growing waits, never a traceback per attempt; a rejected token stops the bot with one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.delivery import retry_after_seconds
from bot.inbox import Inbox

log = logging.getLogger(__name__)

WAITS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # seconds between attempts while Telegram is away
BATCH = 100  # Telegram's maximum


class StartupError(Exception):
    """The bot cannot run as configured; the message says what to do (and holds no secret)."""


def token_problem(error: InvalidToken, api_base_url: str) -> StartupError:
    """The one line to show when Telegram refuses the token (401) or the address (404)."""
    # Bot.initialize wraps the server's answer in a message holding the whole token: use
    # the answer itself, and never repeat either.
    answer = error.__cause__ if isinstance(error.__cause__, InvalidToken) else error
    if "not found" in answer.message.lower():
        return StartupError(
            f"the Bot API at {api_base_url} answered 404 Not Found: check"
            " telegram.api_base_url, and that EVERYSTAGE_TELEGRAM__TOKEN is the whole token"
        )
    return StartupError(
        "Telegram rejected the bot token (401 Unauthorized): set EVERYSTAGE_TELEGRAM__TOKEN to"
        " the token @BotFather gave you (it may have been revoked)"
    )


def unreachable_line(api_base_url: str, error: BaseException, wait: float) -> str:
    """The log line for a failed attempt to reach the Bot API."""
    cause = type(error.__cause__ or error).__name__
    return f"cannot reach the Bot API at {api_base_url} ({cause}); retrying in {wait:g} s"


class Poller:
    """Fetch updates with getUpdates and pass them through the inbox, until stopped."""

    def __init__(
        self,
        bot: Any,
        inbox: Inbox,
        api_base_url: str,
        timeout: int,
        allowed_updates: Sequence[str],
    ) -> None:
        self._bot = bot
        self._inbox = inbox
        self._api = api_base_url
        self._timeout = timeout
        self._allowed = json.dumps(list(allowed_updates))
        self._request = HTTPXRequest(connection_pool_size=1)
        self._task: asyncio.Task[None] | None = None
        self.failed: asyncio.Future[StartupError] = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        """Start polling in the background."""
        await self._request.initialize()
        self._task = asyncio.create_task(self._run(), name="everystage:poller")

    async def stop(self) -> None:
        """Stop polling. An unfinished getUpdates is abandoned unconfirmed: Telegram keeps it."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._request.shutdown()

    async def _fetch(self, offset: int | None) -> list[Any]:
        query: dict[str, Any] = {
            "timeout": self._timeout,
            "limit": BATCH,
            "allowed_updates": self._allowed,
        }
        if offset is not None:
            query["offset"] = offset
        result = await self._request.post(
            f"{self._bot.base_url}/getUpdates?{urlencode(query)}",
            read_timeout=self._timeout + 10,
        )
        return result if isinstance(result, list) else []

    async def _run(self) -> None:
        # No offset at first: Telegram returns every update not confirmed yet, and the inbox
        # ignores those a previous run already stored.
        offset: int | None = None
        failures = 0
        while True:
            try:
                raw = await self._fetch(offset)
            except InvalidToken as exc:
                self.failed.set_result(token_problem(exc, self._api))
                return
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                log.warning("Telegram asked to wait %g s before polling again", wait)
                await asyncio.sleep(wait)
                continue
            except Conflict:
                wait = WAITS[min(failures, len(WAITS) - 1)]
                failures += 1
                log.error(
                    "another process is polling with this bot's token; only one bot may run"
                    " per token (retrying in %g s)",
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            except TelegramError as exc:
                wait = WAITS[min(failures, len(WAITS) - 1)]
                if failures == 0 or wait == WAITS[-1]:
                    log.warning(unreachable_line(self._api, exc, wait))
                failures += 1
                await asyncio.sleep(wait)
                continue
            if failures:
                log.info("reached the Bot API again after %d failed attempt(s)", failures)
                failures = 0
            try:
                last = await self._inbox.receive(raw)
            except Exception as exc:
                # Not stored, so not confirmed either: the same batch comes back next time.
                log.error("could not store received updates (%s); retrying", type(exc).__name__)
                await asyncio.sleep(WAITS[0])
                continue
            if last is not None:
                offset = last + 1
            elif raw:
                await asyncio.sleep(WAITS[0])  # nothing confirmable: do not spin on it
