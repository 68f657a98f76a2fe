"""The participant/test control API under /sandbox/ (JSON), for tests, benchmarks and demos.

Besides participants (users, groups, messages, voice/audio/document/photo/sticker, presses) it
exposes the hostile side of Telegram:

* ``POST /sandbox/faults`` with ``Faults`` fields, including the after-delivery ones
  (``after_error_rate``, ``after_drop_rate``, ``after_latency``, ``after_latency_rate``);
* ``POST /sandbox/limits/storm`` ``{"seconds", "calls", "retry_after", "methods",
  "enforce_retry_after"}`` forces a 429 storm, ``DELETE /sandbox/limits/storm`` ends it;
* ``POST /sandbox/updates/raw`` ``{"update": {...}}`` queues any JSON object as an update,
  as-is (``{"queued", "update_id"}``); ``GET /sandbox/updates`` is the getUpdates record
  (pending, in flight, confirmed and when, forgotten, getUpdates calls), ``DELETE`` resets it;
* voice, audio and document bodies take ``file_size`` (declared, whatever the bytes),
  ``suffix`` (the file_path's extension, ``""`` for none) or a whole ``file_path``;
* webhooks (see webhook.py): ``GET /sandbox/webhook`` is the webhook as set (getWebhookInfo),
  its round-robin URLs and what is in flight; ``POST /sandbox/webhook`` ``{"targets": [url,
  ...], "first_retry", "max_retry", "timeout"}`` (each optional) sets where a load balancer at
  the webhook's URL forwards deliveries, in turn (several bot processes; ``[]``: to the
  webhook's URL itself) and the retry waits; ``GET /sandbox/webhook/deliveries`` lists every
  delivery attempt, ``DELETE`` forgets them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ControlError
from .faults import Faults
from .files import StoredFile
from .formatting import command_entities
from .limits import RateLimits
from .models import BOT_ID, BOT_USER

if TYPE_CHECKING:
    from .server import Sandbox

# Placeholders so a participant can send a sticker/photo without providing bytes.
_STICKER = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88"
_PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
MAX_EVENT_WAIT = 60.0

Route = Callable[[web.Request], Awaitable[Any]]


def add_control_routes(app: web.Application, sandbox: Sandbox) -> None:
    """Register every /sandbox/ endpoint on the app."""
    api = _Control(sandbox)
    routes: list[tuple[str, str, Route]] = [
        ("GET", "/sandbox/", api.info),
        ("POST", "/sandbox/users", api.create_user),
        ("GET", "/sandbox/users/{user_id}", api.get_user),
        ("POST", "/sandbox/users/{user_id}/block", api.block),
        ("POST", "/sandbox/users/{user_id}/unblock", api.unblock),
        ("POST", "/sandbox/users/{user_id}/delete", api.delete_account),
        ("POST", "/sandbox/groups", api.create_group),
        ("GET", "/sandbox/chats/{chat_id}", api.get_chat),
        ("GET", "/sandbox/chats/{chat_id}/messages", api.list_messages),
        ("POST", "/sandbox/chats/{chat_id}/messages", api.send_text),
        ("POST", "/sandbox/chats/{chat_id}/voice", api.send_voice),
        ("POST", "/sandbox/chats/{chat_id}/audio", api.send_audio),
        ("POST", "/sandbox/chats/{chat_id}/document", api.send_document),
        ("POST", "/sandbox/chats/{chat_id}/sticker", api.send_sticker),
        ("POST", "/sandbox/chats/{chat_id}/photo", api.send_photo),
        ("POST", "/sandbox/chats/{chat_id}/messages/{message_id}/edit", api.edit),
        ("POST", "/sandbox/chats/{chat_id}/messages/{message_id}/press", api.press),
        ("GET", "/sandbox/chats/{chat_id}/events", api.events),
        ("GET", "/sandbox/callback_queries/{query_id}", api.callback_query),
        ("GET", "/sandbox/requests", api.requests),
        ("DELETE", "/sandbox/requests", api.reset_requests),
        ("GET", "/sandbox/violations", api.violations),
        ("GET", "/sandbox/unsupported", api.unsupported),
        ("GET", "/sandbox/files/{file_id}", api.download),
        ("GET", "/sandbox/limits", api.get_limits),
        ("POST", "/sandbox/limits", api.set_limits),
        ("POST", "/sandbox/limits/storm", api.start_storm),
        ("DELETE", "/sandbox/limits/storm", api.stop_storm),
        ("GET", "/sandbox/faults", api.get_faults),
        ("POST", "/sandbox/faults", api.set_faults),
        ("GET", "/sandbox/stats", api.stats),
        ("DELETE", "/sandbox/stats", api.reset_stats),
        ("GET", "/sandbox/updates", api.get_updates),
        ("DELETE", "/sandbox/updates", api.reset_updates),
        ("POST", "/sandbox/updates/raw", api.inject_update),
        ("GET", "/sandbox/webhook", api.get_webhook),
        ("POST", "/sandbox/webhook", api.configure_webhook),
        ("GET", "/sandbox/webhook/deliveries", api.webhook_deliveries),
        ("DELETE", "/sandbox/webhook/deliveries", api.reset_webhook_deliveries),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _wrap(handler))


def _wrap(handler: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def route(request: web.Request) -> web.StreamResponse:
        try:
            result = await handler(request)
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result)

    return route


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError("request body must be JSON") from None
    if not isinstance(body, dict):
        raise ControlError("request body must be a JSON object")
    return body


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be an integer") from None


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    return None if body.get(name) is None else _int(body[name], name)


def _bytes(body: dict[str, Any], default: bytes | None = None) -> bytes:
    if body.get("data_base64") is None:
        if default is None:
            raise ControlError("data_base64 is required")
        return default
    try:
        return base64.b64decode(body["data_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ControlError("data_base64 is not valid base64") from None


def _opt_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{name} must be a number")
    return float(value)


def _file_options(body: dict[str, Any]) -> dict[str, Any]:
    """FileStore.put's declared_size/suffix/file_path from a control body."""
    options: dict[str, Any] = {}
    if (size := _opt_int(body, "file_size")) is not None:
        if size < 0:
            raise ControlError("file_size must be >= 0")
        options["declared_size"] = size
    for name in ("suffix", "file_path"):
        if body.get(name) is not None:
            if not isinstance(body[name], str):
                raise ControlError(f"{name} must be a string")
            options[name] = body[name]
    return options


class _Control:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.world = sandbox.world

    def _chat_id(self, request: web.Request) -> int:
        return _int(request.match_info["chat_id"], "chat_id")

    async def info(self, request: web.Request) -> dict[str, Any]:
        spec = self.sb.spec
        return {
            "bot": BOT_USER,
            "validating": spec is not None,
            "spec_version": spec.version if spec else None,
            "last_seq": self.world.last_seq,
            "rate_limits": self.sb.rate_limiter.enabled,
            "storm": self.sb.rate_limiter.storming,
            "faults": self.sb.fault_injector.enabled,
        }

    async def create_user(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        extra = {k: body[k] for k in ("last_name", "username", "language_code") if k in body}
        user = self.world.ensure_user(
            _int(body.get("id"), "id"), str(body.get("first_name") or "User"), **extra
        )
        return user.to_control()

    async def get_user(self, request: web.Request) -> dict[str, Any]:
        return self.world.user(_int(request.match_info["user_id"], "user_id")).to_control()

    async def block(self, request: web.Request) -> dict[str, Any]:
        user_id = _int(request.match_info["user_id"], "user_id")
        return self.world.set_blocked(user_id, True).to_control()

    async def unblock(self, request: web.Request) -> dict[str, Any]:
        user_id = _int(request.match_info["user_id"], "user_id")
        return self.world.set_blocked(user_id, False).to_control()

    async def delete_account(self, request: web.Request) -> dict[str, Any]:
        user_id = _int(request.match_info["user_id"], "user_id")
        return self.world.deactivate(user_id).to_control()

    async def create_group(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        chat = self.world.ensure_group(
            _int(body.get("chat_id"), "chat_id"),
            str(body.get("title") or "Group"),
            _opt_int(body, "added_by"),
        )
        return chat.to_dict()

    async def get_chat(self, request: web.Request) -> dict[str, Any]:
        chat = self.world.chat(self._chat_id(request))
        return {
            "chat": chat.to_dict(),
            "reply_keyboard": chat.reply_keyboard,
            "message_count": len(chat.messages),
            "bot_message_count": sum(
                1 for m in chat.messages.values() if m.get("from", {}).get("id") == BOT_ID
            ),
        }

    async def list_messages(self, request: web.Request) -> list[dict[str, Any]]:
        return list(self.world.chat(self._chat_id(request)).messages.values())

    async def send_text(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ControlError("text must be a non-empty string")
        content: dict[str, Any] = {"text": text}
        if entities := command_entities(text):
            content["entities"] = entities
        return self.world.user_message(
            self._chat_id(request),
            content,
            _opt_int(body, "user_id"),
            _opt_int(body, "reply_to_message_id"),
        )

    async def _put(
        self, body: dict[str, Any], kind: str, file_name: str | None, mime: str
    ) -> StoredFile:
        options = _file_options(body)
        data = _bytes(body)
        try:
            return await self.sb.files.put(data, kind, file_name, mime, **options)
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    async def send_voice(self, request: web.Request) -> dict[str, Any]:
        """{"data_base64", "duration", "mime_type", "user_id", "file_size", "suffix",
        "file_path", "reply_to_message_id"}: a voice note (see _file_options for the file
        options)."""
        body = await _body(request)
        self.world.chat(self._chat_id(request))  # fail before storing anything
        mime = str(body.get("mime_type") or "audio/ogg")
        record = await self._put(body, "voice", None, mime)
        voice = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "duration": _int(body.get("duration", 1), "duration"),
            "mime_type": mime,
            "file_size": record.reported_size,
        }
        return self.world.user_message(
            self._chat_id(request),
            {"voice": voice},
            _opt_int(body, "user_id"),
            _opt_int(body, "reply_to_message_id"),
        )

    async def send_audio(self, request: web.Request) -> dict[str, Any]:
        """{"data_base64", "duration", "mime_type", "title", "performer", "file_name",
        "caption", "user_id", "file_size", "suffix", "file_path"}: a music file."""
        body = await _body(request)
        self.world.chat(self._chat_id(request))
        mime = str(body.get("mime_type") or "audio/mpeg")
        file_name = None if body.get("file_name") is None else str(body["file_name"])
        record = await self._put(body, "audio", file_name, mime)
        audio: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "duration": _int(body.get("duration", 1), "duration"),
        }
        for key in ("performer", "title"):
            if body.get(key) is not None:
                audio[key] = str(body[key])
        if file_name is not None:
            audio["file_name"] = file_name
        audio |= {"mime_type": mime, "file_size": record.reported_size}
        content: dict[str, Any] = {"audio": audio}
        if body.get("caption"):
            content["caption"] = str(body["caption"])
        return self.world.user_message(self._chat_id(request), content, _opt_int(body, "user_id"))

    async def send_document(self, request: web.Request) -> dict[str, Any]:
        """{"data_base64", "file_name", "mime_type", "caption", "user_id", "file_size",
        "suffix", "file_path"}: a document."""
        body = await _body(request)
        self.world.chat(self._chat_id(request))
        mime = str(body.get("mime_type") or "application/octet-stream")
        file_name = None if body.get("file_name") is None else str(body["file_name"])
        record = await self._put(body, "document", file_name, mime)
        document: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
        }
        if file_name is not None:
            document["file_name"] = file_name
        document |= {"mime_type": mime, "file_size": record.reported_size}
        content: dict[str, Any] = {"document": document}
        if body.get("caption"):
            content["caption"] = str(body["caption"])
        return self.world.user_message(self._chat_id(request), content, _opt_int(body, "user_id"))

    async def send_sticker(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        self.world.chat(self._chat_id(request))
        record = await self.sb.files.put(_bytes(body, _STICKER), "sticker", None, "image/webp")
        sticker = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": str(body.get("emoji") or "👍"),
            "file_size": record.size,
        }
        return self.world.user_message(
            self._chat_id(request), {"sticker": sticker}, _opt_int(body, "user_id")
        )

    async def send_photo(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        self.world.chat(self._chat_id(request))
        record = await self.sb.files.put(_bytes(body, _PHOTO), "photo", None, "image/jpeg")
        width = _int(body.get("width", 800), "width")
        height = _int(body.get("height", 600), "height")
        scale = 90 / max(width, height, 1)
        small = {
            "file_id": self.sb.files.alias(record, "photo"),
            "file_unique_id": record.file_unique_id + "s",
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
            "file_size": record.size,
        }
        large = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "width": width,
            "height": height,
            "file_size": record.size,
        }
        content: dict[str, Any] = {"photo": [small, large]}
        if body.get("caption"):
            content["caption"] = str(body["caption"])
        return self.world.user_message(self._chat_id(request), content, _opt_int(body, "user_id"))

    async def edit(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ControlError("text must be a non-empty string")
        return self.world.user_edit(
            self._chat_id(request),
            _int(request.match_info["message_id"], "message_id"),
            text,
            command_entities(text),
            _opt_int(body, "user_id"),
        )

    async def press(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        data = body.get("callback_data")
        if not isinstance(data, str):
            raise ControlError("callback_data must be a string")
        query = self.world.press(
            self._chat_id(request),
            _int(request.match_info["message_id"], "message_id"),
            data,
            _opt_int(body, "user_id"),
        )
        return query.to_control()

    async def events(self, request: web.Request) -> dict[str, Any]:
        chat_id = self._chat_id(request)
        after = _int(request.query.get("after", 0), "after")
        try:
            timeout = min(float(request.query.get("timeout", 0)), MAX_EVENT_WAIT)
        except ValueError:
            raise ControlError("timeout must be a number") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.world.events_after(chat_id, after)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self.sb.closing:
                return {"events": found, "last_seq": self.world.last_seq}
            await self.sb.notifier.wait(remaining)

    async def callback_query(self, request: web.Request) -> dict[str, Any]:
        query = self.world.callback_queries.get(request.match_info["query_id"])
        if query is None:
            raise ControlError("unknown callback query", 404)
        return query.to_control()

    async def requests(self, request: web.Request) -> list[dict[str, Any]]:
        return self.sb.requests

    async def reset_requests(self, request: web.Request) -> dict[str, Any]:
        self.sb.reset_log()
        return {"ok": True}

    async def violations(self, request: web.Request) -> list[str]:
        return self.sb.violations

    async def unsupported(self, request: web.Request) -> list[dict[str, Any]]:
        return self.sb.unsupported_calls

    async def download(self, request: web.Request) -> web.Response:
        record = self.sb.files.get(request.match_info["file_id"])
        if record is None:
            raise ControlError("unknown file_id", 404)
        data = await self.sb.files.read(record)
        return web.Response(body=data, content_type=record.mime_type or "application/octet-stream")

    # -- rate limits, faults, statistics ---------------------------------------------------------

    async def get_limits(self, request: web.Request) -> dict[str, Any]:
        return self.sb.rate_limiter.to_dict()

    async def set_limits(self, request: web.Request) -> dict[str, Any]:
        """{"enabled": true|false, "reset_stats": bool, ...RateLimits fields over the current}."""
        body = await _body(request)
        enabled, reset = _switch(body)
        limiter = self.sb.rate_limiter
        try:
            limits = RateLimits.from_dict(body, limiter.limits) if enabled else None
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        if reset:
            limiter.reset_stats()
        self.sb.configure(limits=limits)
        return limiter.to_dict()

    async def get_faults(self, request: web.Request) -> dict[str, Any]:
        return self.sb.fault_injector.to_dict()

    async def set_faults(self, request: web.Request) -> dict[str, Any]:
        """{"enabled": true|false, "reset_stats": bool, ...Faults fields over the current}."""
        body = await _body(request)
        enabled, reset = _switch(body)
        injector = self.sb.fault_injector
        try:
            faults = Faults.from_dict(body, injector.faults) if enabled else None
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        if reset:
            injector.reset_stats()
        self.sb.configure(faults=faults)
        return injector.to_dict()

    async def start_storm(self, request: web.Request) -> dict[str, Any]:
        """{"seconds": s|null, "calls": n|null, "retry_after": 5, "methods": [...]|null,
        "enforce_retry_after": bool|null}: every limited call gets 429 until it ends."""
        body = await _body(request)
        if unknown := set(body) - {
            "seconds",
            "calls",
            "retry_after",
            "methods",
            "enforce_retry_after",
        }:
            raise ControlError(f"unknown storm settings: {sorted(unknown)}")
        methods = body.get("methods")
        if methods is not None and (
            not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
        ):
            raise ControlError("methods must be a list of method names")
        enforce = body.get("enforce_retry_after")
        if enforce is not None and not isinstance(enforce, bool):
            raise ControlError("enforce_retry_after must be true, false or null")
        retry_after = _opt_int(body, "retry_after")
        try:
            self.sb.rate_limiter.start_storm(
                seconds=_opt_number(body, "seconds"),
                calls=_opt_int(body, "calls"),
                retry_after=5 if retry_after is None else retry_after,
                methods=methods,
                enforce_retry_after=enforce,
            )
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return self.sb.rate_limiter.to_dict()

    async def stop_storm(self, request: web.Request) -> dict[str, Any]:
        self.sb.rate_limiter.stop_storm()
        return self.sb.rate_limiter.to_dict()

    async def get_updates(self, request: web.Request) -> dict[str, Any]:
        return self.world.update_record()

    async def reset_updates(self, request: web.Request) -> dict[str, Any]:
        self.world.reset_update_record()
        return {"ok": True}

    async def inject_update(self, request: web.Request) -> dict[str, Any]:
        """{"update": {...}}: queued as-is (an update_id is added unless it has one)."""
        body = await _body(request)
        update = body.get("update")
        if not isinstance(update, dict):
            raise ControlError("update must be a JSON object")
        queued, update_id = self.world.inject_update(update)
        return {"queued": queued, "update_id": update_id}

    async def get_webhook(self, request: web.Request) -> dict[str, Any]:
        return self.sb.webhook.to_dict()

    async def configure_webhook(self, request: web.Request) -> dict[str, Any]:
        """{"targets": [url, ...], "first_retry": s, "max_retry": s, "timeout": s}, each
        optional: the URLs to deliver to in turn instead of the webhook's, and the retry
        waits."""
        body = await _body(request)
        if unknown := set(body) - {"targets", "first_retry", "max_retry", "timeout"}:
            raise ControlError(f"unknown webhook settings: {sorted(unknown)}")
        targets = body.get("targets")
        if targets is not None:
            if not isinstance(targets, list) or not all(
                isinstance(url, str) and url.startswith(("http://", "https://")) for url in targets
            ):
                raise ControlError("targets must be a list of http(s) URLs")
            self.world.webhook_targets = list(targets)
        try:
            self.sb.webhook.configure(
                _opt_number(body, "first_retry"),
                _opt_number(body, "max_retry"),
                _opt_number(body, "timeout"),
            )
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        return self.sb.webhook.to_dict()

    async def webhook_deliveries(self, request: web.Request) -> list[dict[str, Any]]:
        return self.sb.webhook.log

    async def reset_webhook_deliveries(self, request: web.Request) -> dict[str, Any]:
        self.sb.webhook.reset_log()
        return {"ok": True}

    async def stats(self, request: web.Request) -> dict[str, Any]:
        return self.sb.stats()

    async def reset_stats(self, request: web.Request) -> dict[str, Any]:
        self.sb.reset_stats()
        return {"ok": True}


def _switch(body: dict[str, Any]) -> tuple[bool, bool]:
    """Pop the "enabled" (default true) and "reset_stats" flags from a settings body."""
    enabled, reset = body.pop("enabled", True), body.pop("reset_stats", False)
    if not isinstance(enabled, bool) or not isinstance(reset, bool):
        raise ControlError("enabled and reset_stats must be true or false")
    return enabled, reset
