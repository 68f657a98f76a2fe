"""Webhook mode: Telegram posts each update to us, and the durable inbox stores it first.

An aiohttp server on ``telegram.webhook_listen`` (behind a TLS proxy) serves three paths:

* ``POST <telegram.listen_path>``: one update. The ``X-Telegram-Bot-Api-Secret-Token`` header
  is compared with ``telegram.webhook_secret`` in constant time (missing: 401, wrong: 403).
  The update is written to the inbox *before* the answer, so a 200 tells Telegram it is on
  disk; a failure to store it answers 500 and Telegram sends it again. A body that is not an
  update (not JSON, no update_id) is 400, logged without its content. While draining: 503,
  and Telegram delivers it again later (to this process after a restart, or another one).
* ``GET /healthz``: 200 while the process serves (draining too): it is alive.
* ``GET /readyz``: 200 only while the Application runs, the database answers a trivial query
  and the server is not draining; 503 otherwise.

python-telegram-bot's own ``run_webhook`` would hand updates straight to the handlers, bypassing
the inbox, and compares the secret with ``!=``. Start-up sets the webhook (``setWebhook`` with
the URL, secret, every update type and ``max_connections``); shut-down never deletes it, so
Telegram keeps updates for the next start (or for another worker).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.delivery import retry_after_seconds
from bot.inbox import Inbox
from bot.polling import WAITS, StartupError, token_problem, unreachable_line
from bot.services import services_of
from bot.settings import HEALTH_PATHS, WEBHOOK_SECRET_ENV, TelegramSettings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
READY_TIMEOUT = 2.0  # seconds the database may take to answer /readyz's query
DRAIN_TIMEOUT = 30.0  # seconds to wait for deliveries being stored when draining
MAX_UPDATE_BYTES = 1024 * 1024  # far above any update Telegram sends


def _plain(status: int, word: str = "") -> web.Response:
    return web.Response(status=status, text=word, content_type="text/plain")


class WebhookServer:
    """Receive updates from Telegram's webhook into the inbox; answer health checks."""

    def __init__(
        self,
        app: Any,
        inbox: Inbox,
        telegram: TelegramSettings,
        allowed_updates: Sequence[str],
    ) -> None:
        if telegram.webhook_url is None:
            raise StartupError("webhook mode needs telegram.webhook_url")
        if telegram.webhook_secret is None:
            raise StartupError(f"webhook mode needs a secret: set {WEBHOOK_SECRET_ENV}")
        self._app = app
        self._inbox = inbox
        self._settings = telegram
        self._secret = telegram.webhook_secret.get_secret_value().encode()
        self._allowed = list(allowed_updates)
        self._draining = False
        self._receiving = 0  # deliveries being stored right now
        self._idle = asyncio.Event()
        self._idle.set()
        self._ping: asyncio.Future[bool] | None = None
        self._database_down = False  # logged once per outage, not once per probe
        self._runner: web.AppRunner | None = None
        # Nothing stops a webhook for good once it is set; the same interface as the Poller.
        self.failed: asyncio.Future[StartupError] = asyncio.get_running_loop().create_future()
        server = web.Application(client_max_size=MAX_UPDATE_BYTES)
        server.router.add_post(telegram.listen_path, self._update)
        server.router.add_get(HEALTH_PATHS[0], self._live)
        server.router.add_get(HEALTH_PATHS[1], self._ready)
        self._server = server

    @property
    def draining(self) -> bool:
        """Whether new deliveries are being turned away (shutting down)."""
        return self._draining

    async def start(self) -> None:
        """Listen, then ask Telegram to deliver here. Raises StartupError when it cannot."""
        host, port = self._settings.listen
        runner = web.AppRunner(self._server, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = exc.strerror or type(exc).__name__
            raise StartupError(
                f"cannot listen on {self._settings.webhook_listen} ({reason}): check"
                " telegram.webhook_listen"
            ) from None
        self._runner = runner
        log.info(
            "listening for Telegram's webhook on %s, path %s",
            self._settings.webhook_listen,
            self._settings.listen_path,
        )
        await self._set_webhook()

    async def _set_webhook(self) -> None:
        settings = self._settings
        api = settings.api_base_url
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        for attempt in itertools.count():
            try:
                await self._app.bot.set_webhook(
                    url=settings.webhook_url,
                    secret_token=settings.webhook_secret.get_secret_value(),
                    allowed_updates=self._allowed,
                    max_connections=settings.max_connections,
                )
            except InvalidToken as exc:
                raise token_problem(exc, api) from None
            except RetryAfter as exc:
                await asyncio.sleep(retry_after_seconds(exc))
                continue
            except (BadRequest, Forbidden) as exc:
                raise StartupError(
                    f"Telegram refused the webhook {settings.webhook_url} ({exc.message}): check"
                    " telegram.webhook_url"
                ) from None
            except TelegramError as exc:
                wait = WAITS[min(attempt, len(WAITS) - 1)]
                log.warning(unreachable_line(api, exc, wait))
                await asyncio.sleep(wait)
                continue
            log.info("webhook set: Telegram delivers updates to %s", settings.webhook_url)
            return

    async def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:  # noqa: ASYNC109
        """Turn new deliveries away (503: Telegram sends them again later) and wait until
        those being stored are in the inbox (and on the update queue)."""
        self._draining = True
        log.info(
            "draining: new webhook deliveries get 503 (Telegram sends them again later);"
            " storing %d being received",
            self._receiving,
        )
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            log.error("draining: %d update(s) were still being stored", self._receiving)

    async def stop(self) -> None:
        """Stop taking updates (as the Poller's stop): drain."""
        await self.drain()

    async def close(self) -> None:
        """Stop listening (after the Application has stopped)."""
        self._draining = True
        if self._ping is not None and not self._ping.done():
            await asyncio.wait({self._ping}, timeout=READY_TIMEOUT)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return _plain(401)
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret):
            return _plain(403)
        if self._draining:
            return _plain(503)
        self._receiving += 1
        self._idle.clear()
        try:
            return await self._store(request)
        finally:
            self._receiving -= 1
            if not self._receiving:
                self._idle.set()

    async def _store(self, request: web.Request) -> web.Response:
        try:
            update = json.loads(await request.read())
        except ValueError:  # UnicodeDecodeError too
            log.warning("a webhook request was not JSON; answered 400")
            return _plain(400)
        if not isinstance(update, dict) or not _is_id(update.get("update_id")):
            log.warning("a webhook request was not an update (no update_id); answered 400")
            return _plain(400)
        try:
            await self._inbox.receive([update])
        except Exception as exc:
            # Not stored, so not acknowledged: Telegram sends it again.
            log.error(
                "could not store a received update (%s); answered 500 so Telegram retries",
                type(exc).__name__,
            )
            return _plain(500)
        return _plain(200)

    async def _live(self, request: web.Request) -> web.Response:
        return _plain(200, "ok")

    async def _ready(self, request: web.Request) -> web.Response:
        if self._draining or not self._app.running or not await self._database_answers():
            return _plain(503, "not ready")
        return _plain(200, "ready")

    async def _database_answers(self) -> bool:
        # One query at a time, never cancelled half-way (it may hold the database's lock):
        # a slow one is waited for by later checks, and counts as "not ready" meanwhile.
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self._query())
        try:
            return await asyncio.wait_for(asyncio.shield(self._ping), READY_TIMEOUT)
        except TimeoutError:
            return False

    async def _query(self) -> bool:
        try:
            db = services_of(self._app).db
            async with db.read() as tx:
                await tx.one("SELECT 1")
        except Exception as exc:
            if not self._database_down:
                log.warning("not ready: the database did not answer (%s)", type(exc).__name__)
            self._database_down = True
            return False
        if self._database_down:
            log.info("ready: the database answers again")
        self._database_down = False
        return True


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
