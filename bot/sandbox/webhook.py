"""Webhook delivery: while a webhook is set, queued updates are POSTed to it, as Telegram does.

* The bot calls ``setWebhook`` (url, secret_token, allowed_updates, max_connections); from then
  on ``getUpdates`` is refused with 409, as Telegram refuses it, until ``deleteWebhook`` (or
  ``setWebhook`` with an empty url). ``getWebhookInfo`` reports the url, pending_update_count,
  max_connections, allowed_updates and the last delivery error.
* Each update is one ``POST`` of its JSON, with the ``X-Telegram-Bot-Api-Secret-Token`` header
  when setWebhook gave a ``secret_token`` (none otherwise).
* At most ``max_connections`` deliveries are in flight at once, and each chat's updates go one
  at a time, in update_id order: a chat's next update waits until the previous one was
  acknowledged (with several targets too, so each person's updates stay in order across bots).
* A 2xx answer confirms the update (it leaves the queue, recorded in ``World.confirmations``).
  Anything else (another status, such as the bot's 401/403 for a missing or wrong secret, or
  503 while it drains; a refused or dropped connection; no answer within ``timeout``) is a
  failed delivery: getWebhookInfo's ``last_error_message`` says why in Telegram's words
  ("Wrong response from the webhook: 403 Forbidden", "Connection refused", "Read timeout
  expired"), and it is retried after a growing wait (``first_retry``, doubling up to
  ``max_retry``) for as long as it takes.

Several bot processes behind a load balancer (round-robin)
-----------------------------------------------------------
Every worker runs ``everystage run --webhook`` with the same ``telegram.webhook_url`` (the
load balancer's public address: any URL, nothing needs to listen there) and its own
``telegram.webhook_listen`` (and the same secret). Each calls setWebhook with that URL at
start-up, which simply sets it again. The test then tells the sandbox where the load balancer
forwards, with the workers' real addresses::

    await client.webhook_targets(["http://127.0.0.1:8001/telegram",
                                  "http://127.0.0.1:8002/telegram"])

(``POST /sandbox/webhook {"targets": [...]}``; ``[]`` delivers to the webhook's URL again).
While targets are set, deliveries go to them in turn (``World.webhook_urls()``), instead of the
webhook's own URL; a retry goes to the next target, never straight back to the one that just
failed, so a killed worker's updates reach the others. Per-chat order and max_connections hold
across all targets together. ``client.webhook_deliveries()`` lists every attempt (update_id,
url, attempt, status, error, retry_in) to check which worker got what; ``client.webhook()``
shows the webhook, targets, urls and what is in flight; ``client.configure_webhook(...)`` also
sets ``first_retry``, ``max_retry`` and ``timeout`` (seconds).

``log`` records every attempt: update_id, url, attempt number, HTTP status (or None), error
(None on success), ``retry_in`` (the wait before the next attempt, None on success) and when it
was sent and answered (Unix time, for information: tests should not rely on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .state import World, chat_of_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_LOG = 100_000


@dataclass
class _Pending:
    """What delivery knows about one queued update."""

    update: dict[str, Any]
    attempts: int = 0
    retry_at: float = 0.0  # loop time before which it is not sent again
    failed_at: str | None = None  # the URL its last attempt failed on
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class WebhookDelivery:
    """Posts the World's queued updates to its webhook while one is set."""

    def __init__(
        self,
        world: World,
        first_retry: float = 0.1,
        max_retry: float = 2.0,
        timeout: float = 30.0,
    ) -> None:
        self.world = world
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.timeout = timeout
        self.log: list[dict[str, Any]] = []
        self._pending: dict[int, _Pending] = {}  # id(update) -> state, while it is queued
        self._turn = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        world.listeners.append(self.wake)

    def wake(self) -> None:
        """Something changed (an update queued, a webhook set, a delivery done): look again."""
        self._wake.set()

    @property
    def in_flight(self) -> list[Any]:
        """The update_ids being delivered right now."""
        return [p.update.get("update_id") for p in self._pending.values() if p.task is not None]

    async def start(self) -> None:
        """Start delivering (the sandbox's server has started)."""
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="sandbox:webhook")

    async def stop(self) -> None:
        """Stop delivering; deliveries in flight are abandoned (their updates stay queued)."""
        tasks = [p.task for p in self._pending.values() if p.task is not None]
        if self._task is not None:
            tasks.append(self._task)
            self._task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pending in self._pending.values():
            pending.task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def reset_log(self) -> None:
        """Forget the attempts logged so far."""
        self.log.clear()

    def configure(
        self,
        first_retry: float | None = None,
        max_retry: float | None = None,
        timeout: float | None = None,
    ) -> None:
        """Change the retry waits or the answer timeout (None: as is)."""
        for name, value in (
            ("first_retry", first_retry),
            ("max_retry", max_retry),
            ("timeout", timeout),
        ):
            if value is not None:
                if value <= 0:
                    raise ValueError(f"{name} must be more than 0")
                setattr(self, name, float(value))
        self.wake()

    def to_dict(self) -> dict[str, Any]:
        """The control API's view: settings, where updates go, what is in flight."""
        return {
            "webhook": self.world.webhook_info(),
            "secret_token_set": bool(self.world.webhook and self.world.webhook.secret_token),
            "targets": list(self.world.webhook_targets),
            "urls": self.world.webhook_urls(),
            "in_flight": self.in_flight,
            "first_retry": self.first_retry,
            "max_retry": self.max_retry,
            "timeout": self.timeout,
            "deliveries": len(self.log),
        }

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            next_retry = self._launch(loop.time())
            wait = None if next_retry is None else max(0.0, next_retry - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _launch(self, now: float) -> float | None:
        """Start every delivery that may start now; return when the next retry is due."""
        hook = self.world.webhook
        if hook is None or self._session is None:
            # Nothing to deliver to: forget retry waits (a new webhook starts afresh).
            self._pending = {k: p for k, p in self._pending.items() if p.task is not None}
            return None
        queued = {id(u) for u in self.world.updates}
        for key in [k for k, p in self._pending.items() if k not in queued and p.task is None]:
            del self._pending[key]  # confirmed or dropped
        room = hook.max_connections - sum(1 for p in self._pending.values() if p.task)
        busy: set[int] = set()  # chats with an earlier update not acknowledged yet
        next_retry: float | None = None
        for update in self.world.updates:
            chat = chat_of_update(update)
            if chat is not None and chat in busy:
                continue
            pending = self._pending.setdefault(id(update), _Pending(update))
            if pending.task is not None or pending.retry_at > now:
                if pending.task is None and (next_retry is None or pending.retry_at < next_retry):
                    next_retry = pending.retry_at
                if chat is not None:
                    busy.add(chat)
                continue
            if room <= 0:
                break
            urls = self.world.webhook_urls()
            url = urls[next(self._turn) % len(urls)]
            if url == pending.failed_at and len(urls) > 1:
                url = urls[next(self._turn) % len(urls)]  # a retry goes to another target
            pending.attempts += 1
            pending.task = asyncio.create_task(self._deliver(pending, url, hook.secret_token))
            room -= 1
            if chat is not None:
                busy.add(chat)
        return next_retry

    async def _deliver(self, pending: _Pending, url: str, secret: str | None) -> None:
        update = pending.update
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        entry: dict[str, Any] = {
            "update_id": update.get("update_id"),
            "url": url,
            "attempt": pending.attempts,
            "status": None,
            "error": None,
            "retry_in": None,
            "sent_at": time.time(),
        }
        body = json.dumps(update, ensure_ascii=False).encode()
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                await response.read()
                entry["status"] = response.status
                if not 200 <= response.status < 300:
                    entry["error"] = (
                        f"Wrong response from the webhook: {response.status} {response.reason}"
                    )
        except asyncio.CancelledError:
            pending.task = None  # the sandbox is stopping: the update stays queued
            raise
        except TimeoutError:
            entry["error"] = "Read timeout expired"
        except aiohttp.ClientConnectorError:
            entry["error"] = "Connection refused"
        except aiohttp.ClientError as exc:
            entry["error"] = f"Connection closed ({type(exc).__name__})"
        entry["answered_at"] = time.time()
        pending.task = None
        if entry["error"] is None:
            self.world.webhook_delivered(update)
            self._pending.pop(id(update), None)
        else:
            self.world.webhook_failed(entry["error"])
            wait = min(self.max_retry, self.first_retry * 2 ** (pending.attempts - 1))
            entry["retry_in"] = wait
            pending.retry_at = asyncio.get_running_loop().time() + wait
            pending.failed_at = url
            log.debug("webhook delivery of %s failed: %s", entry["update_id"], entry["error"])
        if len(self.log) >= MAX_LOG:
            del self.log[: MAX_LOG // 10]
        self.log.append(entry)
        self.wake()
