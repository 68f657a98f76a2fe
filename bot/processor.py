"""Handle updates concurrently, but each chat's updates strictly in arrival order.

While an update's handlers run, :data:`storage.inbox.HANDLING` names it, so the transaction
that stores its effects can mark it handled too; afterwards the inbox records the outcome.

With several workers sharing one database (PostgreSQL; bot/leader.py) a person's next update
may reach another process while this one handles the last. Then the processor is *shared*
(:meth:`PerChatUpdateProcessor.share`): a chat's updates are handled only while this process
holds the chat's turn, and whoever holds it handles every pending update of the chat, in
update_id order, from the stored payload when another worker received it. A worker that cannot
take the turn leaves its update to the holder, who looks once more after giving the turn back
(storage/leases.py explains why that cannot miss it); a sweep picks up what a dead worker left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from storage.inbox import HANDLING, NO_CHAT, ChatRow, Handling

log = logging.getLogger(__name__)

Finish = Callable[[Handling], Awaitable[None]]
TURN_WAITS = (0.02, 0.05, 0.1, 0.2, 0.5)  # seconds between tries of a job waiting for a turn


class Turns(Protocol):
    """Chats' turns across workers, and the stored updates of a chat (bot/inbox.py)."""

    async def take(self, chat: int) -> bool:
        """Take the chat's turn if nobody alive holds it."""

    async def take_with_rows(
        self, chat: int, also: int | None, before: int | None
    ) -> list[ChatRow] | None:
        """Take the turn and the chat's pending updates before update ``before`` (and update
        ``also``, whatever its state), or None if another worker holds it."""

    async def give_back(self, chat: int) -> list[int]:
        """Give it back; the chat's updates still pending."""

    async def parse(self, row: ChatRow) -> Update | None:
        """A stored update, parsed (None: unreadable, and recorded so)."""

    def handler(self, update: Update) -> Awaitable[Any]:
        """The Application's handling of ``update``."""


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Up to ``max_concurrent_updates`` at once; one at a time per chat.

    python-telegram-bot starts a task per update in arrival order; each task queues on its
    chat's lock, and asyncio locks wake waiters first come, first served, so a person's
    answers are processed in the order they sent them.
    """

    def __init__(self, max_concurrent_updates: int):
        super().__init__(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}
        self._finish: Finish | None = None
        self._turns: Turns | None = None
        self._drains: set[asyncio.Task[None]] = set()
        self._accepting = False
        # Shared: per chat, the updates tasks of this process are waiting to handle (or
        # handling); a turn stops before one of them, which its own task handles next.
        self._queued: dict[int, set[int]] = {}
        # Updates received and on their way to a task (chat of each; per chat, how many), so
        # the sweep never takes a chat whose update is about to be handled here.
        self._arriving: dict[int, int] = {}
        self._arriving_chats: dict[int, int] = {}

    def track(self, finish: Finish | None) -> None:
        """Call ``finish`` after each Update's handlers (the durable inbox records it)."""
        self._finish = finish

    def share(self, turns: Turns | None) -> None:
        """Take chats' turns across workers (PostgreSQL), or stop (None)."""
        self._turns = turns
        self._accepting = turns is not None

    @property
    def shared(self) -> bool:
        """Whether chats' turns are taken across workers."""
        return self._turns is not None

    def arriving(self, update_id: int, chat: int) -> None:
        """An update is received and will reach :meth:`do_process_update` (or :meth:`arrived`)."""
        if update_id not in self._arriving:
            self._arriving[update_id] = chat
            self._arriving_chats[chat] = self._arriving_chats.get(chat, 0) + 1

    def arrived(self, update_id: int) -> None:
        """The update's task is done with it (or it will never be handed to one)."""
        chat = self._arriving.pop(update_id, None)
        if chat is not None:
            left = self._arriving_chats[chat] - 1
            if left:
                self._arriving_chats[chat] = left
            else:
                del self._arriving_chats[chat]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await ``coroutine`` while holding the lock (and, shared, the turn) of the chat."""
        try:
            await self._process(update, coroutine)
        finally:
            if isinstance(update, Update):
                self.arrived(update.update_id)

    async def _process(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if self._turns is not None and self._finish is not None and isinstance(update, Update):
            own: tuple[Update, Awaitable[Any]] | None = (update, coroutine)
            chat = _lease_key(key)
            queued = self._queued.setdefault(chat, set())
            queued.add(update.update_id)
            try:
                async with self._local(chat):
                    own = await self._take_turns(chat, own)
            finally:
                queued.discard(update.update_id)
                if not queued and self._queued.get(chat) is queued:
                    del self._queued[chat]
                if own is not None:
                    _discard(own[1])  # handled by whoever held the turn
            return
        async with self._local(key):
            if self._finish is None or not isinstance(update, Update):
                await coroutine
                return
            await self._handle(update, coroutine)

    async def _handle(self, update: Update, coroutine: Awaitable[Any]) -> None:
        assert self._finish is not None
        handling = Handling(update.update_id)
        token = HANDLING.set(handling)
        try:
            await coroutine
        finally:
            HANDLING.reset(token)
            await self._finish(handling)

    async def _take_turns(
        self, chat: int, own: tuple[Update, Awaitable[Any]] | None
    ) -> tuple[Update, Awaitable[Any]] | None:
        """Shared: while the chat's turn can be had, handle its pending updates in order.

        ``own`` is the update this task was given: handled in its place among the pending
        ones, skipped if another worker handled it, handled last if it is not in the inbox at
        all (an update put on the queue directly). Returns it if it was left to another holder.
        The turn stops before an update another task here is waiting to handle
        (:meth:`_next_queued`).
        """
        turns = self._turns
        assert turns is not None
        # This task's update stays among the queued ones until it returns, handled or not:
        # it must never count as another task's, or a turn would stop before updates that
        # other workers stored meanwhile, leaving them to the sweep.
        mine = own[0].update_id if own is not None else None
        while True:
            own_id = own[0].update_id if own is not None else None
            before = self._next_queued(chat, mine)
            rows = await turns.take_with_rows(chat, own_id, before)
            if rows is None:
                break
            listed = any(row.update_id == own_id for row in rows)
            try:
                for row in rows:
                    if own is not None and row.update_id == own_id:
                        (update, coroutine), own = own, None
                        if row.pending:
                            await self._handle(update, coroutine)
                        else:
                            _discard(coroutine)  # handled elsewhere, or left for later
                    elif row.pending:
                        parsed = await turns.parse(row)
                        if parsed is not None:
                            await self._handle(parsed, turns.handler(parsed))
                if own is not None and not listed:  # not in the inbox at all
                    (update, coroutine), own = own, None
                    await self._handle(update, coroutine)
            finally:
                remaining = await turns.give_back(chat)
            if not self._ours_to_handle(chat, remaining, mine):
                break
        return own

    def _next_queued(self, chat: int, own_id: int | None) -> int | None:
        """The first update another task here is waiting to handle: a turn stops before it
        (that task takes the turn next: the chat's local lock is first come, first served,
        and goes on from there), so an update is read and parsed once, not twice."""
        return min((u for u in self._queued.get(chat, ()) if u != own_id), default=None)

    def _ours_to_handle(self, chat: int, pending: list[int], own_id: int | None = None) -> bool:
        """Whether some of the chat's pending updates come before any a task here awaits."""
        first = self._next_queued(chat, own_id)
        return any(first is None or update_id < first for update_id in pending)

    def drain_soon(self, chat: int) -> None:
        """Shared: handle the chat's pending updates in a task of its own (the sweep)."""
        if not self._accepting:
            return
        task = asyncio.get_running_loop().create_task(self._drain(chat), name="everystage:drain")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, chat: int) -> None:
        try:
            async with self._semaphore, self._local(chat):
                await self._take_turns(chat, None)
        except Exception as exc:
            log.error("could not handle a chat's pending updates: %s", type(exc).__name__)

    def busy(self, chat: int) -> bool:
        """Whether this process is handling (or about to handle) the chat right now."""
        return chat in self._locks or chat in self._arriving_chats

    async def stop_draining(self) -> None:
        """Start no more drains and wait for those running (before the database closes)."""
        self._accepting = False
        while self._drains:
            await asyncio.gather(*list(self._drains), return_exceptions=True)

    @asynccontextmanager
    async def chat_lock(self, key: int | None) -> Any:
        """Hold one chat's turn (jobs use it too, so they never interleave with its updates).

        Shared, this waits until the chat's turn across workers is free, and afterwards hands
        the chat's pending updates (stored meanwhile by a worker that could not take the turn)
        to a drain.
        """
        turns = self._turns
        if turns is None:
            async with self._local(key):
                yield
            return
        chat = _lease_key(key)
        remaining: list[int] = []
        async with self._local(chat):
            for attempt in range(1_000_000):
                if await turns.take(chat):
                    break
                await asyncio.sleep(TURN_WAITS[min(attempt, len(TURN_WAITS) - 1)])
            try:
                yield
            finally:
                remaining = await turns.give_back(chat)
        if self._ours_to_handle(chat, remaining):
            self.drain_soon(chat)

    @asynccontextmanager
    async def _local(self, key: int | None) -> Any:
        """This process's lock of one chat."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                # Forget idle chats so memory does not grow with every person ever seen.
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def chat_key(update: object) -> int | None:
    """The chat an update belongs to (its person's id when it has no chat), or None."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None


def _lease_key(key: int | None) -> int:
    return NO_CHAT if key is None else key


def _discard(coroutine: Awaitable[Any]) -> None:
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()  # never awaited: no "coroutine was never awaited" warning
