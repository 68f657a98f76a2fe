"""The Bot API client: python-telegram-bot's ExtBot, patient with Telegram's bad moments.

``send_message`` (every reply a person is waiting for) retries transient failures with
backoff (bot/delivery.py); scheduled messages, which record each attempt's outcome and may be
sent at most twice, use ``send_once`` instead. Every request passes through one sending budget
(bot/budget.py): replies first, broadcasts (``rate_limit_args=BROADCAST_ARGS``) with what is
left, all inside Telegram's flood limits; ``telegram.rate_limit = false`` means no limiter at all.

Two kinds of Telegram error are part of normal life and must never stop a handler:

* answering a button press (``answerCallbackQuery``) fails when the press is older than
  Telegram's window (after a restart the inbox replays presses from minutes ago) or when
  Telegram hiccups; the press itself is handled all the same;
* editing a message to what it already says ("message is not modified").
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import BadRequest, TelegramError
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot.budget import BudgetLimiter, budget_for
from bot.delivery import TROUBLE, with_retries
from bot.settings import Settings

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"
CONNECTIONS = 256  # python-telegram-bot's default pool for everything but getUpdates


class EverystageBot(ExtBot[Any]):
    """ExtBot whose replies ride out transient failures, whose button answers never raise
    and whose no-op edits are not errors."""

    async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
        """With no rate limiter (``telegram.rate_limit = false``) a request's priority means
        nothing: drop it rather than let python-telegram-bot refuse the request."""
        if self.rate_limiter is None:
            self._extract_rl_kwargs(data)
        return await super()._do_post(endpoint, data, **kwargs)

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        """Send a reply; 429s, 5xx, timeouts and dropped connections are retried a few times."""
        return await with_retries(lambda: ExtBot.send_message(self, *args, **kwargs))

    async def send_once(self, *args: Any, **kwargs: Any) -> Any:
        """Send exactly one request: for callers that track each attempt's outcome."""
        return await ExtBot.send_message(self, *args, **kwargs)

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        """Stop the button's spinner; a failure is logged (no content) and ignored."""
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except BadRequest:
            # Usually a press older than Telegram's window (handled again after a restart).
            log.debug("a button press was too old to acknowledge")
            return False
        except TelegramError as exc:
            TROUBLE.note(type(exc).__name__, "a button press's answer")
            return False

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Any:
        """Edit a message; editing it to what it already says is fine."""
        try:
            return await super().edit_message_text(*args, **kwargs)
        except BadRequest as exc:
            if NOT_MODIFIED in exc.message.lower():
                return True
            raise

    async def edit_message_reply_markup(self, *args: Any, **kwargs: Any) -> Any:
        """Change a message's buttons; changing them to what they are is fine."""
        try:
            return await super().edit_message_reply_markup(*args, **kwargs)
        except BadRequest as exc:
            if NOT_MODIFIED in exc.message.lower():
                return True
            raise


def build_bot(settings: Settings) -> EverystageBot:
    """The bot for ``settings`` (token, Bot API address, rate limiting)."""
    telegram = settings.telegram
    assert telegram.token is not None
    # Replies first, broadcasts with what is left, inside Telegram's limits (bot/budget.py);
    # on PostgreSQL one budget for every worker sharing the database (and so the token).
    rate_limiter = BudgetLimiter(budget_for(settings.storage)) if telegram.rate_limit else None
    return EverystageBot(
        token=telegram.token.get_secret_value(),
        base_url=telegram.base_url,
        base_file_url=telegram.base_file_url,
        request=HTTPXRequest(connection_pool_size=CONNECTIONS),
        get_updates_request=HTTPXRequest(connection_pool_size=1),
        rate_limiter=rate_limiter,
    )
