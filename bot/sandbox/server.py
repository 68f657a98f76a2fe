"""The sandbox HTTP server: Bot API endpoints, file downloads and the control API.

Each Bot API call is parsed, validated against the spec, passed through fault injection (before),
the rate limiter (429s, storms) and ``Sandbox.hooks``, then run; a call that took effect may still
fail on the way back (fault injection after delivery: see faults.py). ``Sandbox.requests`` logs
every call: method, params, ``ok``, the error, ``dropped``, and for after-delivery faults
``"delivered": true`` with ``after_fault`` ("error", "drop" or "late").

While the bot has a webhook set, ``Sandbox.webhook`` (webhook.py) posts updates to it instead of
handing them to getUpdates.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from . import errors
from .botapi import BotApi
from .control import add_control_routes
from .errors import ApiError, bad_request
from .faults import AfterFault, DroppedConnection, FaultInjector, Faults, ServerFault
from .files import FileStore
from .limits import RateLimiter, RateLimits
from .params import Params, Upload
from .spec import BotApiSpec, load_spec
from .state import World
from .stats import DeliveryStats
from .webhook import WebhookDelivery

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{10,}$")
NOT_FOUND = ApiError(404, "Not Found")
UNAUTHORIZED = ApiError(401, "Unauthorized")

# Runs after validation and before the method; raise ApiError to fail the call. Fault injection
# and rate limits (429 + retry_after) run first, built in; `Sandbox.hooks` come after them.
Hook = Callable[[str, Params], Awaitable[None]]


class Notifier:
    """Wakes every coroutine waiting for "something changed"."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake current waiters; later waiters wait for the next change."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Wait for the next change or the timeout, whichever comes first."""
        event = self._event
        with suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


class Sandbox:
    """A local Telegram Bot API server that PTB can poll, plus a participant control API."""

    def __init__(
        self,
        token: str | None = None,
        spec_path: Path | None = None,
        callback_query_ttl: float = 15.0,
        files_dir: Path | None = None,
        limits: RateLimits | None = None,
        faults: Faults | None = None,
        webhook_https_only: bool = False,
    ) -> None:
        self.token = token
        self.world = World(callback_query_ttl)
        self.spec: BotApiSpec | None = None
        self._spec_path = spec_path
        self._spec_loaded = False
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.unsupported_calls: list[dict[str, Any]] = []
        self.hooks: list[Hook] = []
        # Both off unless configured; switchable at runtime (configure() or the control API).
        self.fault_injector = FaultInjector(faults)
        self.rate_limiter = RateLimiter(limits)
        self.delivery = DeliveryStats()
        self.url = ""
        self.notifier = Notifier()
        self.world.listeners.append(self.notifier.notify)
        self.closing = False
        self._files_dir = files_dir
        self._own_dir: str | None = None
        self.files = FileStore(files_dir or Path("."))
        self.api = BotApi(self.world, self.files, self.notifier.wait, lambda: self.closing)
        # False: setWebhook takes http:// and any port, as a self-hosted Bot API server does.
        self.api.webhook_https_only = webhook_https_only
        self.webhook = WebhookDelivery(self.world)
        self._request_seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_api)
        self.app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        add_control_routes(self.app, self)

    @property
    def validating(self) -> bool:
        """Whether requests are checked against the official spec."""
        return self.spec is not None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (port 0 picks a free port) and return the base URL."""
        if self._files_dir is None:
            self._own_dir = tempfile.mkdtemp(prefix="everystage-sandbox-")
            self.files.directory = Path(self._own_dir)
        else:
            self._files_dir.mkdir(parents=True, exist_ok=True)
        if not self._spec_loaded:
            # Parsing ~1 MB of JSON; keep it off the loop (it is cached per path afterwards).
            self.spec = await asyncio.to_thread(load_spec, self._spec_path)
            self._spec_loaded = True
        self.closing = False
        # Short shutdown: long-polls are woken by `closing`, so nothing should be left waiting.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sockets = self._runner.addresses
        bound_port = sockets[0][1] if sockets else port
        self.url = f"http://{host}:{bound_port}"
        await self.webhook.start()
        log.info("Everystage sandbox listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Wake long-polls, close the server and remove temporary files."""
        self.closing = True
        self.notifier.notify()
        await self.webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._own_dir, True)
            self._own_dir = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def configure(
        self,
        limits: RateLimits | bool | None = False,
        faults: Faults | bool | None = False,
    ) -> None:
        """Switch rate limits / faults: a config (or True: defaults) on, None off, False: as is."""
        if limits is not False:
            self.rate_limiter.configure(RateLimits() if limits is True else limits)
        if faults is not False:
            self.fault_injector.configure(Faults() if faults is True else faults)

    def stats(self) -> dict[str, Any]:
        """Delivery statistics plus rate limiter and fault injector counters."""
        return {
            **self.delivery.to_dict(),
            "limits": self.rate_limiter.to_dict(),
            "faults": self.fault_injector.to_dict(),
        }

    def reset_stats(self) -> None:
        """Zero delivery, rate limit and fault counters (settings are kept)."""
        self.delivery.reset()
        self.rate_limiter.reset_stats()
        self.fault_injector.reset_stats()

    def reset_log(self) -> None:
        """Forget logged requests, violations and unsupported calls."""
        self.requests.clear()
        self.violations.clear()
        self.unsupported_calls.clear()

    def _token_error(self, token: str) -> web.Response | None:
        # Like Telegram: malformed tokens get 404, well-formed but wrong ones 401.
        if not TOKEN_RE.match(token):
            return _reply(NOT_FOUND.to_dict(), 404)
        if self.token is not None and token != self.token:
            return _reply(UNAUTHORIZED.to_dict(), 401)
        return None

    async def _handle_bot_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if refused := self._token_error(request.match_info["token"]):
            return refused
        in_spec = self.spec is not None and self.spec.has_method(method)
        if not in_spec and (self.spec is not None or method not in self.api.handlers):
            return _reply(NOT_FOUND.to_dict(), 404)
        entry: dict[str, Any] = {
            "seq": next(self._request_seq),
            "time": time.time(),
            "method": method,
        }
        html: str | None = None
        after: AfterFault | None = None
        try:
            params = await _parse(request)
            entry["params"] = params.redacted()
            result = await self._dispatch(method, params)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
            self.delivery.record(method, result)
            after = self.fault_injector.after(method)
        except DroppedConnection:
            entry |= {"ok": False, "dropped": True}
            self.requests.append(entry)
            log.debug("%s -> connection dropped", method)
            return _drop(request)
        except ApiError as exc:
            body, status = exc.to_dict(), exc.code
            html = exc.html if isinstance(exc, ServerFault) else None
        if after is not None:
            return await self._fail_after(request, entry, method, body, after)
        entry["ok"] = body["ok"]
        if not body["ok"]:
            entry["error_code"], entry["description"] = body["error_code"], body["description"]
        self.requests.append(entry)
        log.debug("%s -> %s", method, status)
        if html is not None:  # an injected 502 looks like Telegram's nginx, not the Bot API
            return web.Response(text=html, status=status, content_type="text/html")
        return _reply(body, status)

    async def _fail_after(
        self,
        request: web.Request,
        entry: dict[str, Any],
        method: str,
        body: dict[str, Any],
        fault: AfterFault,
    ) -> web.StreamResponse:
        """The call took effect (body is its success); now fail on the way back."""
        entry |= {"delivered": True, "after_fault": fault.kind}
        result = body["result"]
        if fault.kind == "drop":
            entry |= {"ok": False, "dropped": True}
            self.requests.append(entry)
            self.delivery.unacknowledged(method, result)
            log.debug("%s -> delivered, then connection dropped", method)
            return _drop(request)
        if fault.kind == "error":
            error = ServerFault(fault.code)
            entry |= {"ok": False, "error_code": error.code, "description": error.description}
            self.requests.append(entry)
            self.delivery.unacknowledged(method, result)
            log.debug("%s -> delivered, then %s", method, error.code)
            if error.html is not None:
                return web.Response(text=error.html, status=error.code, content_type="text/html")
            return _reply(error.to_dict(), error.code)
        # Late: logged now (the effect is visible at once), answered after the delay.
        entry |= {"ok": True, "late": round(fault.delay, 6)}
        self.requests.append(entry)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + fault.delay
        while (remaining := deadline - loop.time()) > 0 and not self.closing:
            await self.notifier.wait(remaining)
        # aiohttp keeps running a handler whose client hung up; the transport is gone then.
        abandoned = request.transport is None or request.transport.is_closing()
        entry["abandoned"] = abandoned
        if abandoned:
            self.fault_injector.abandoned(method)
            self.delivery.unacknowledged(method, result)
        log.debug("%s -> delivered, answered %.3fs late", method, fault.delay)
        return _reply(body, 200)

    async def _dispatch(self, method: str, params: Params) -> Any:
        if self.spec is not None:
            problems = self.spec.validate(method, params)
            if problems:
                self.violations.extend(f"{method}: {problem}" for problem in problems)
                raise bad_request("; ".join(problems))
        await self.fault_injector(method, params)  # before anything takes effect
        await self.rate_limiter(method, params)
        for hook in self.hooks:
            await hook(method, params)
        handler = self.api.handlers.get(method)
        if handler is None:
            self.unsupported_calls.append({"method": method, "params": params.redacted()})
            raise ApiError(400, errors.UNSUPPORTED_METHOD)
        return await handler(params)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if refused := self._token_error(request.match_info["token"]):
            return refused
        record = self.files.by_path(request.match_info["path"])
        if record is None:
            return _reply(NOT_FOUND.to_dict(), 404)
        data = await self.files.read(record)
        return web.Response(body=data, content_type=record.mime_type or "application/octet-stream")


def _reply(body: dict[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)


def _drop(request: web.Request) -> web.Response:
    """Close the connection so the client sees the server disconnect with no response."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=204)


async def _parse(request: web.Request) -> Params:
    """Query string plus a form, multipart or JSON body, as Telegram accepts them all."""
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    ctype = request.content_type
    if ctype == "application/json" and request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        values.update(body)
    elif ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart is not part of the Bot API
            name = part.name or ""
            if part.filename is not None:
                data = bytes(await part.read())
                uploads[name] = Upload(
                    name, part.filename, part.headers.get(hdrs.CONTENT_TYPE), data
                )
            else:
                values[name] = await part.text()
    elif ctype == "application/x-www-form-urlencoded":
        values.update((await request.post()).items())
    return Params(values, uploads)
