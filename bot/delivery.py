"""What became of a request to Telegram, and sending that survives Telegram's bad moments.

Telegram has no idempotency key: a request whose answer is lost may or may not have taken
effect. :func:`outcome_of` sorts every failure into one of

* ``NOT_SENT``: certainly not delivered (a 429 "retry after", or the connection never opened),
  so sending again cannot duplicate anything;
* ``UNCERTAIN``: the request left and its answer was lost (a 5xx, a timeout while waiting, a
  dropped connection): sending again may deliver a second copy;
* ``REFUSED``: Telegram said no for good (a 400 other than a vanished chat);
* ``UNREACHABLE``: the person blocked the bot or the chat is gone.

:func:`send_message` retries the first two with backoff (honouring ``retry_after``), a bounded
number of times, for the messages a person is waiting for (the next question).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

import httpx
from telegram import Message
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

log = logging.getLogger(__name__)

T = TypeVar("T")

# Seconds to wait before the 2nd, 3rd and 4th attempt (a 429 waits its retry_after instead).
BACKOFF = (0.5, 1.5, 4.0)
MAX_RETRY_AFTER = 60.0  # a longer flood wait is left to the recovery job
_GONE = ("chat not found", "user is deactivated", "bot was blocked", "bot was kicked")
# httpx errors raised before the request could have reached Telegram.
_NEVER_LEFT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)


class Trouble:
    """Log Telegram's transient failures as one line per storm, not one per request.

    The first failure of a kind is logged; while failures keep coming (each within ``quiet``
    seconds of the last) they are only counted; the next failure after a quiet spell logs how
    many the previous storm held.
    """

    def __init__(self, quiet: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.quiet = quiet
        self._clock = clock
        self._last: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def note(self, kind: str, what: str) -> None:
        """A ``kind`` of failure (an error's type name) happened while doing ``what``."""
        now = self._clock()
        last = self._last.get(kind)
        self._last[kind] = now
        if last is not None and now - last < self.quiet:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            return
        held = self._counts.pop(kind, 0)
        if held:
            log.warning("Telegram trouble (%s) ended after %d more failure(s)", kind, held)
        log.warning(
            "Telegram trouble: %s while sending %s; retrying, and counting (not logging) more"
            " of these for the next %g s",
            kind,
            what,
            self.quiet,
        )


TROUBLE = Trouble()


class Outcome(StrEnum):
    """How a request to Telegram ended."""

    SENT = "sent"
    NOT_SENT = "not_sent"
    UNCERTAIN = "uncertain"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


def outcome_of(error: BaseException) -> Outcome:
    """Classify a failed request (see the module docstring)."""
    if isinstance(error, Forbidden):
        return Outcome.UNREACHABLE
    if isinstance(error, BadRequest):
        text = error.message.lower()
        return Outcome.UNREACHABLE if any(g in text for g in _GONE) else Outcome.REFUSED
    if isinstance(error, RetryAfter):
        return Outcome.NOT_SENT
    if isinstance(error, TimedOut | NetworkError):
        cause = error.__cause__
        if isinstance(cause, _NEVER_LEFT) or "Pool timeout" in error.message:
            return Outcome.NOT_SENT
        return Outcome.UNCERTAIN
    if isinstance(error, TelegramError):
        return Outcome.REFUSED
    return Outcome.UNCERTAIN


def retry_after_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds, whichever type python-telegram-bot gives it as."""
    value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: tuple[float, ...] = BACKOFF,
    max_uncertain: int = len(BACKOFF),
    max_retry_after: float = MAX_RETRY_AFTER,
    what: str = "a message",
) -> T:
    """Run ``call`` until it succeeds, retrying NOT_SENT and (up to ``max_uncertain`` times)
    UNCERTAIN failures after the backoff; anything else, or running out, re-raises (so does
    a 429 asking for a longer wait than ``max_retry_after`` seconds)."""
    uncertain = 0
    for attempt in range(len(backoff) + 1):
        try:
            return await call()
        except TelegramError as exc:
            outcome = outcome_of(exc)
            last = attempt == len(backoff)
            if outcome is Outcome.UNCERTAIN:
                uncertain += 1
            if (
                last
                or outcome in (Outcome.REFUSED, Outcome.UNREACHABLE)
                or (uncertain > max_uncertain)
            ):
                raise
            wait = backoff[attempt]
            if isinstance(exc, RetryAfter):
                wait = retry_after_seconds(exc)
                if wait > max_retry_after:
                    raise
            TROUBLE.note(type(exc).__name__, what)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def send_message(bot: Any, chat_id: int, text: str, **kwargs: Any) -> Message | None:
    """Send a message a person is waiting for; None if it could not be sent (logged).

    Transient failures are retried with backoff; the caller decides what "not sent" means
    (for the next question: the recovery job tries again later).
    """
    try:
        if hasattr(bot, "send_once"):  # Everystage's bot retries its replies itself
            return await bot.send_message(chat_id, text, **kwargs)
        return await with_retries(lambda: bot.send_message(chat_id, text, **kwargs))
    except TelegramError as exc:
        TROUBLE.note(type(exc).__name__, "a message (given up for now)")
        return None


async def quietly(call: Awaitable[Any], what: str = "an edit") -> bool:
    """Cosmetic requests (marking a question answered): a failure is logged, never raised."""
    try:
        await call
    except BadRequest as exc:  # the message is gone, or cannot be edited any more
        log.info("%s skipped: %s", what, type(exc).__name__)
        return False
    except TelegramError as exc:
        TROUBLE.note(type(exc).__name__, f"{what} (skipped)")
        return False
    return True
