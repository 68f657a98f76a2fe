"""The bot's side of the durable inbox: stored updates in, parsed updates to the handlers.

Whatever fetches updates (long polling, or Telegram's webhook) hands the raw JSON to
:meth:`Inbox.receive`, which writes it to the database, with its chat, *before* the fetcher
confirms it to Telegram, then queues each new update for python-telegram-bot's handlers. An
update python-telegram-bot cannot parse is recorded as unreadable (its id and the error's
type, never its content) and skipped; everyone else is served. At start-up,
:meth:`Inbox.recover` queues what a previous run fetched but did not finish, oldest first, so
each person's messages are handled in the order they sent them.

The update processor (bot/processor.py) tells :meth:`Inbox.finish` when an update's handlers
are done; updates whose effects were committed together with "handled" are not written again.

With several workers (PostgreSQL: bot/leader.py) the inbox is also the processor's
:class:`~bot.processor.Turns`: it takes and gives back chats' turns for this worker, and
reads and parses the pending updates of a chat, whichever worker stored them. Start-up
recovery is then the worker's first sweep, which takes only chats no live worker holds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update

from bot.leader import Worker
from bot.processor import chat_key
from bot.services import services_of
from storage import inbox as store
from storage import leases
from storage.inbox import NO_CHAT, ChatRow, Handling, Pending

log = logging.getLogger(__name__)

# A start that finds an update still unhandled counts as an attempt; after this many the update
# is given up (something in it crashes the bot) so it cannot keep the bot from starting. With
# several workers, each time a worker begins handling it counts instead.
MAX_ATTEMPTS = 3


class Inbox:
    """Durable hand-over from the update source to the Application's update queue."""

    def __init__(self, app: Any, worker: Worker | None = None) -> None:
        self._app = app
        self._worker = worker

    @property
    def _db(self) -> Any:
        return services_of(self._app).db

    def _now(self) -> Any:
        return services_of(self._app).clock.now()

    async def recover(self) -> int:
        """Queue every update a previous run stored but did not finish; return how many.

        With several workers nothing is queued here: the worker's first sweep takes the chats
        that no live worker holds (bot/leader.py), and never one another worker is handling.
        """
        if self._worker is not None:
            return 0
        pending, given_up = await store.recover(self._db, MAX_ATTEMPTS, self._now())
        if given_up:
            _log_given_up(given_up)
        for update in pending:
            await self._dispatch(update, self._parse(update.payload))
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
        parsed = {u["update_id"]: self._parse(u) for u in valid}
        chats = [_chat_of(parsed[u["update_id"]]) for u in valid]
        processor = self._app.update_processor
        # Known to be on their way before they are stored, so a sweep never takes them.
        for update_id, chat in zip(parsed, chats, strict=True):
            if not isinstance(parsed[update_id], Exception):
                processor.arriving(update_id, chat)
        fresh: list[Pending] = []
        try:
            fresh = await store.store(
                self._db, valid, self._now(), chats, self._worker.id if self._worker else None
            )
            for update in fresh:
                await self._dispatch(update, parsed[update.update_id])
        finally:
            dispatched = {
                u.update_id for u in fresh if not isinstance(parsed[u.update_id], Exception)
            }
            for update_id in parsed:
                if update_id not in dispatched:
                    processor.arrived(update_id)
        return max((u["update_id"] for u in valid), default=None)

    def _parse(self, payload: dict[str, Any]) -> Update | Exception:
        try:
            return Update.de_json(payload, self._app.bot)
        except Exception as exc:
            return exc

    async def _dispatch(self, pending: Pending, parsed: Update | Exception) -> None:
        if isinstance(parsed, Exception):
            await self._unreadable(pending.update_id, parsed)
            return
        await self._app.update_queue.put(parsed)

    async def _unreadable(self, update_id: int, error: Exception) -> None:
        log.warning("an update could not be read (%s); skipped", type(error).__name__)
        await store.unreadable(self._db, update_id, type(error).__name__, self._now())

    async def finish(self, handling: Handling) -> None:
        """An update's handlers are done: record it (unless already committed with them)."""
        try:
            await store.finish(self._db, handling, self._now())
        except Exception as exc:  # the database going away at shutdown must not crash here
            log.error("could not record an update as handled: %s", type(exc).__name__)

    # -- chats' turns across workers (bot.processor.Turns) ------------------------------------

    def _worker_id(self) -> str:
        assert self._worker is not None, "turns are taken only with several workers"
        return self._worker.id

    async def take(self, chat: int) -> bool:
        """Take the chat's turn if it is free, ours, or held by a worker that is gone."""
        return (await self._acquire(chat, None)).held

    async def take_with_rows(
        self, chat: int, also: int | None, before: int | None
    ) -> list[ChatRow] | None:
        """Take the chat's turn and, holding it, its pending updates in order (those before
        ``before``), each counted as an attempt (and update ``also``, whatever its state);
        those attempted too often are given up. None if another worker holds the turn."""
        turn = await self._acquire(chat, leases.Read(also, MAX_ATTEMPTS, before))
        if not turn.held or turn.rows is None:
            return None
        if turn.rows.given_up:
            _log_given_up(turn.rows.given_up)
        return turn.rows.rows

    async def _acquire(self, chat: int, read: leases.Read | None) -> leases.Turn:
        turn = await leases.acquire(self._db, chat, self._worker_id(), self._now(), read)
        if turn.taken_over:
            assert self._worker is not None
            self._worker.took_over()
        return turn

    async def give_back(self, chat: int) -> list[int]:
        """Give the chat's turn back; the updates of it still pending."""
        return await leases.release(self._db, chat, self._worker_id())

    async def parse(self, row: ChatRow) -> Update | None:
        """A stored update, parsed; None if it cannot be (recorded as unreadable)."""
        assert row.payload is not None
        parsed = self._parse(row.payload)
        if isinstance(parsed, Exception):
            await self._unreadable(row.update_id, parsed)
            return None
        return parsed

    def handler(self, update: Update) -> Awaitable[Any]:
        """The Application's handling of an update (what its update queue would run)."""
        result: Awaitable[Any] = self._app.process_update(update)
        return result


def _log_given_up(count: int) -> None:
    log.error(
        "gave up %d update(s) that were being handled each time the bot stopped"
        " unexpectedly; they are recorded as failed",
        count,
    )


def _chat_of(parsed: Update | Exception) -> int:
    key = chat_key(parsed) if isinstance(parsed, Update) else None
    return NO_CHAT if key is None else key


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
