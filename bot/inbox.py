"""The bot's side of the durable inbox: stored updates in, parsed updates to the handlers.

Whatever fetches updates (long polling here; a webhook later) hands the raw JSON to
:meth:`Inbox.receive`, which writes it to the database *before* the fetcher confirms it to
Telegram, then parses each new update and queues it for python-telegram-bot's handlers. An
update python-telegram-bot cannot parse is recorded as unreadable (its id and the error's
type, never its content) and skipped; everyone else is served. At start-up,
:meth:`Inbox.recover` queues what a previous run fetched but did not finish, oldest first, so
each person's messages are handled in the order they sent them.

The update processor (bot/processor.py) tells :meth:`Inbox.finish` when an update's handlers
are done; updates whose effects were committed together with "handled" are not written again.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update

from bot.services import services_of
from storage import inbox as store
from storage.inbox import Handling, Pending

log = logging.getLogger(__name__)

# A start that finds an update still unhandled counts as an attempt; after this many the update
# is given up (something in it crashes the bot) so it cannot keep the bot from starting.
MAX_ATTEMPTS = 3


class Inbox:
    """Durable hand-over from the update source to the Application's update queue."""

    def __init__(self, app: Any) -> None:
        self._app = app

    @property
    def _db(self) -> Any:
        return services_of(self._app).db

    def _now(self) -> Any:
        return services_of(self._app).clock.now()

    async def recover(self) -> int:
        """Queue every update a previous run stored but did not finish; return how many."""
        pending, given_up = await store.recover(self._db, MAX_ATTEMPTS, self._now())
        if given_up:
            log.error(
                "gave up %d update(s) that were being handled each time the bot stopped"
                " unexpectedly; they are recorded as failed",
                given_up,
            )
        for update in pending:
            await self._dispatch(update)
        if pending:
            log.info("handling %d update(s) received before the last stop", len(pending))
        return len(pending)

    async def receive(self, raw: list[Any]) -> int | None:
        """Store fetched updates, then queue the new ones; return the highest update_id.

        Call this before confirming the updates to Telegram: once it returns they are on disk.
        Items without an integer ``update_id`` cannot be stored or confirmed and are skipped.
        """
        valid = [u for u in raw if isinstance(u, dict) and _is_id(u.get("update_id"))]
        if len(valid) != len(raw):
            log.warning("skipped %d update(s) without an update_id", len(raw) - len(valid))
        fresh = await store.store(self._db, valid, self._now())
        for update in fresh:
            await self._dispatch(update)
        return max((u["update_id"] for u in valid), default=None)

    async def _dispatch(self, pending: Pending) -> None:
        try:
            update = Update.de_json(pending.payload, self._app.bot)
        except Exception as exc:
            log.warning("an update could not be read (%s); skipped", type(exc).__name__)
            await store.unreadable(self._db, pending.update_id, type(exc).__name__, self._now())
            return
        await self._app.update_queue.put(update)

    async def finish(self, handling: Handling) -> None:
        """An update's handlers are done: record it (unless already committed with them)."""
        try:
            await store.finish(self._db, handling, self._now())
        except Exception as exc:  # the database going away at shutdown must not crash here
            log.error("could not record an update as handled: %s", type(exc).__name__)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
