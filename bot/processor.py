"""Handle updates concurrently, but each chat's updates strictly in arrival order.

While an update's handlers run, :data:`storage.inbox.HANDLING` names it, so the transaction
that stores its effects can mark it handled too; afterwards the inbox records the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from storage.inbox import HANDLING, Handling

Finish = Callable[[Handling], Awaitable[None]]


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

    def track(self, finish: Finish | None) -> None:
        """Call ``finish`` after each Update's handlers (the durable inbox records it)."""
        self._finish = finish

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Await ``coroutine`` while holding the lock of the update's chat."""
        async with self.chat_lock(_chat_key(update)):
            if self._finish is None or not isinstance(update, Update):
                await coroutine
                return
            handling = Handling(update.update_id)
            token = HANDLING.set(handling)
            try:
                await coroutine
            finally:
                HANDLING.reset(token)
                await self._finish(handling)

    @asynccontextmanager
    async def chat_lock(self, key: int | None) -> Any:
        """Hold one chat's turn (jobs use it too, so they never interleave with its updates)."""
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


def _chat_key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return None
