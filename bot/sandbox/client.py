"""An async client for the sandbox control API: act as participants, inspect what the bot did.

For chaos tests: ``set_faults`` / ``set_after_faults`` (failures before or after a call took
effect), ``start_storm`` / ``stop_storm`` (a forced 429 storm), ``inject_update`` (any JSON object
as an update), ``updates()`` (which updates the bot confirmed, and how often it polled),
``stats()["messages_by_chat"]`` / ``["repeats_by_chat"]`` / ``["unacknowledged_by_chat"]``
(counting duplicates), and file sends that declare a size or an odd file_path. For webhooks:
``webhook()``, ``webhook_targets`` (several bots behind a load balancer, round-robin: see
webhook.py), ``configure_webhook`` (targets, retry waits) and ``webhook_deliveries()``.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from .models import BOT_ID


@dataclass(frozen=True)
class Button:
    """An inline keyboard button."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class Message:
    """A chat message as it is now (edits applied)."""

    message_id: int
    from_bot: bool
    text: str | None
    buttons: list[list[Button]] = field(default_factory=list)
    document: dict[str, Any] | None = None
    edited: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Message:
        """Build from a Bot API Message dict."""
        rows = (data.get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = [
            [Button(b["text"], b.get("callback_data"), b.get("url")) for b in row] for row in rows
        ]
        return cls(
            message_id=data["message_id"],
            from_bot=data.get("from", {}).get("id") == BOT_ID,
            text=data.get("text", data.get("caption")),
            buttons=buttons,
            document=data.get("document"),
            edited="edit_date" in data,
            raw=data,
        )

    def button_texts(self) -> list[str]:
        """All button labels, row by row."""
        return [b.text for row in self.buttons for b in row]


def _file_options(
    file_size: int | None, suffix: str | None, file_path: str | None
) -> dict[str, Any]:
    options = {"file_size": file_size, "suffix": suffix, "file_path": file_path}
    return {k: v for k, v in options.items() if v is not None}


class SandboxError(RuntimeError):
    """The control API refused a request."""


class SandboxClient:
    """Talks to a running Sandbox over HTTP (same process or another one)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url + "/sandbox", timeout=timeout)

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any
    ) -> Any:
        """One control API call; raises SandboxError on a refusal."""
        response = await self._http.request(method, path, json=body, params=query or None)
        if response.status_code >= 400:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise SandboxError(f"{method} {path}: {response.status_code} {detail}")
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    async def user(self, user_id: int, first_name: str = "Sam", **profile: Any) -> SandboxUser:
        """Create (or update) a participant and return a handle on their private chat."""
        data = await self.call(
            "POST", "/users", {"id": user_id, "first_name": first_name, **profile}
        )
        handle = SandboxUser(self, user_id, data)
        await handle.sync()
        return handle

    async def group(self, chat_id: int, title: str, added_by: int | None = None) -> SandboxGroup:
        """Create a group containing the bot (added_by produces a my_chat_member update)."""
        await self.call(
            "POST", "/groups", {"chat_id": chat_id, "title": title, "added_by": added_by}
        )
        handle = SandboxGroup(self, chat_id)
        await handle.sync()
        return handle

    async def info(self) -> dict[str, Any]:
        """Bot identity, whether requests are validated, spec version and the latest event seq."""
        result: dict[str, Any] = await self.call("GET", "/")
        return result

    async def requests(self) -> list[dict[str, Any]]:
        """Every Bot API request the bot made (files elided)."""
        result: list[dict[str, Any]] = await self.call("GET", "/requests")
        return result

    async def reset_requests(self) -> None:
        """Clear the request log, violations and unsupported calls."""
        await self.call("DELETE", "/requests")

    async def violations(self) -> list[str]:
        """Spec violations seen so far."""
        result: list[str] = await self.call("GET", "/violations")
        return result

    async def unsupported(self) -> list[dict[str, Any]]:
        """Calls to spec-valid methods the sandbox does not implement."""
        result: list[dict[str, Any]] = await self.call("GET", "/unsupported")
        return result

    async def download(self, file_id: str) -> bytes:
        """The bytes behind a file_id."""
        # Raw bytes whatever the file's type (a JSON document must not come back decoded).
        response = await self._http.get(f"/files/{file_id}")
        if response.status_code >= 400:
            raise SandboxError(f"GET /files/{file_id}: {response.status_code} {response.text}")
        return response.content

    async def callback_answer(self, query_id: str) -> dict[str, Any]:
        """What the bot answered to a button press (answered, text, show_alert, url)."""
        result: dict[str, Any] = await self.call("GET", f"/callback_queries/{query_id}")
        return result

    async def set_limits(
        self, enabled: bool = True, reset_stats: bool = False, **settings: Any
    ) -> dict[str, Any]:
        """Switch Telegram's rate limits on (settings: RateLimits fields, over the current
        ones) or off; returns {"enabled", "config", "stats"}."""
        body = {"enabled": enabled, "reset_stats": reset_stats, **settings}
        result: dict[str, Any] = await self.call("POST", "/limits", body)
        return result

    async def limits(self) -> dict[str, Any]:
        """Rate limit settings and counters: {"enabled", "config", "stats"}."""
        result: dict[str, Any] = await self.call("GET", "/limits")
        return result

    async def set_faults(
        self, enabled: bool = True, reset_stats: bool = False, **settings: Any
    ) -> dict[str, Any]:
        """Switch fault injection on (settings: Faults fields such as error_rate=0.2,
        latency=0.05 or [0.01, 0.1], drop_rate, seed, or the after-delivery after_error_rate,
        after_drop_rate, after_latency, after_latency_rate; over the current ones) or off."""
        body = {"enabled": enabled, "reset_stats": reset_stats, **settings}
        result: dict[str, Any] = await self.call("POST", "/faults", body)
        return result

    async def set_after_faults(
        self,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        latency: float | list[float] = 0.0,
        latency_rate: float = 1.0,
        **settings: Any,
    ) -> dict[str, Any]:
        """Faults AFTER delivery: the call takes effect, then its answer is a 5xx (error_rate),
        never comes (drop_rate) or comes `latency` seconds late (on latency_rate of calls).
        settings: other Faults fields (seed, methods, error_codes...); all four after-fields
        are set, the rest stay as they are. Returns {"enabled", "config", "stats"}."""
        return await self.set_faults(
            after_error_rate=error_rate,
            after_drop_rate=drop_rate,
            after_latency=latency,
            after_latency_rate=latency_rate,
            **settings,
        )

    async def start_storm(
        self,
        seconds: float | None = None,
        calls: int | None = None,
        retry_after: int = 5,
        methods: list[str] | None = None,
        enforce_retry_after: bool | None = None,
    ) -> dict[str, Any]:
        """A 429 storm: every sending/editing call (or `methods`) gets "Too Many Requests:
        retry after `retry_after`" for `seconds` and/or the next `calls` calls (neither: until
        stop_storm), rate limits on or off. With enforce_retry_after (default: as the limits
        say, else on) retrying before retry_after is refused even after the storm.
        Returns the limits view, whose "storm" shows it."""
        body = {
            "seconds": seconds,
            "calls": calls,
            "retry_after": retry_after,
            "methods": methods,
            "enforce_retry_after": enforce_retry_after,
        }
        result: dict[str, Any] = await self.call("POST", "/limits/storm", body)
        return result

    async def stop_storm(self) -> dict[str, Any]:
        """End the storm now (its flood wait too); returns the limits view."""
        result: dict[str, Any] = await self.call("DELETE", "/limits/storm")
        return result

    async def inject_update(self, update: dict[str, Any]) -> int | None:
        """Queue any JSON object as an update, as-is (no validation): the update_id is added
        unless it has one. Returns the update_id (the payload's own, whatever its type), or
        None when allowed_updates filtered out every known kind it carries."""
        result = await self.call("POST", "/updates/raw", {"update": update})
        update_id: int | None = result["update_id"] if result["queued"] else None
        return update_id

    async def updates(self) -> dict[str, Any]:
        """The getUpdates record: {"pending", "in_flight" (handed out, unconfirmed),
        "confirmed", "confirmations" ([{"update_id", "at"}], at: Unix time), "confirmed_count",
        "forgotten" (negative offset, drop_pending_updates), "get_updates_calls",
        "get_updates_empty" (calls answered with no updates: a long poll that ran out, or an
        immediate empty answer), "allowed_updates"}."""
        result: dict[str, Any] = await self.call("GET", "/updates")
        return result

    async def reset_updates(self) -> None:
        """Forget the confirmations, forgotten ids and getUpdates counters (not the queue)."""
        await self.call("DELETE", "/updates")

    async def webhook(self) -> dict[str, Any]:
        """The webhook: {"webhook" (getWebhookInfo), "secret_token_set", "targets", "urls"
        (round-robin order), "in_flight" (update_ids), "first_retry", "max_retry", "timeout",
        "deliveries" (attempts logged)}."""
        result: dict[str, Any] = await self.call("GET", "/webhook")
        return result

    async def configure_webhook(
        self,
        targets: list[str] | None = None,
        first_retry: float | None = None,
        max_retry: float | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Where a load balancer at the webhook's URL forwards deliveries, in turn (several
        bots; [] delivers to the webhook's URL again), and the retry waits (seconds: the first,
        doubling up to max_retry) and answer timeout; None leaves a setting as it is. Returns
        what ``webhook()`` returns."""
        body = {
            "targets": targets,
            "first_retry": first_retry,
            "max_retry": max_retry,
            "timeout": timeout,
        }
        result: dict[str, Any] = await self.call(
            "POST", "/webhook", {k: v for k, v in body.items() if v is not None}
        )
        return result

    async def webhook_targets(self, urls: list[str]) -> list[str]:
        """Deliver the webhook's updates to these URLs in turn, as a load balancer in front of
        several ``everystage run --webhook`` processes would (each set the same webhook_url,
        and listens on its own address); [] delivers to the webhook's URL again. Returns the
        round-robin order (empty while no webhook is set)."""
        view = await self.configure_webhook(targets=urls)
        return list(view["urls"])

    async def webhook_deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt, in the order answered: {"update_id", "url",
        "attempt", "status" (None without an answer), "error" (None when acknowledged; else as
        getWebhookInfo words it), "retry_in" (seconds until it is sent again; None when
        acknowledged), "sent_at", "answered_at"}."""
        result: list[dict[str, Any]] = await self.call("GET", "/webhook/deliveries")
        return result

    async def reset_webhook_deliveries(self) -> None:
        """Forget the delivery attempts logged so far."""
        await self.call("DELETE", "/webhook/deliveries")

    async def chat(self, chat_id: int) -> dict[str, Any]:
        """{"chat", "reply_keyboard", "message_count", "bot_message_count"} as they are now."""
        result: dict[str, Any] = await self.call("GET", f"/chats/{chat_id}")
        return result

    async def faults(self) -> dict[str, Any]:
        """Fault settings and counters: {"enabled", "config", "stats"}."""
        result: dict[str, Any] = await self.call("GET", "/faults")
        return result

    async def stats(self) -> dict[str, Any]:
        """Delivery statistics (messages_by_chat, timeline, sends_per_second...) plus the
        "limits" and "faults" views."""
        result: dict[str, Any] = await self.call("GET", "/stats")
        return result

    async def reset_stats(self) -> None:
        """Zero delivery, rate limit and fault counters (settings are kept)."""
        await self.call("DELETE", "/stats")


class _ChatHandle:
    """Shared helpers for reading a chat and waiting for the bot.

    The ``timeout`` arguments (noqa ASYNC109) are long-poll durations the server honours, not
    client-side cancellation, so asyncio.timeout would not replace them.
    """

    def __init__(self, client: SandboxClient, chat_id: int) -> None:
        self.client = client
        self.chat_id = chat_id
        self.cursor = 0  # events up to here have been consumed by expect()/wait_*()

    async def sync(self) -> None:
        """Move the cursor to now, so waits only see what happens next."""
        info = await self.client.call("GET", "/")
        self.cursor = info["last_seq"]

    async def messages(self) -> list[Message]:
        """All messages in the chat as they are now."""
        data = await self.client.call("GET", f"/chats/{self.chat_id}/messages")
        return [Message.from_api(m) for m in data]

    async def last_bot_message(self) -> Message | None:
        """The newest message the bot sent here."""
        bot = [m for m in await self.messages() if m.from_bot]
        return bot[-1] if bot else None

    async def wait_events(self, after: int | None = None, timeout: float = 5.0) -> list[dict]:  # noqa: ASYNC109
        """Events with seq > after (default: the cursor), waiting up to timeout for one."""
        data = await self.client.call(
            "GET",
            f"/chats/{self.chat_id}/events",
            after=self.cursor if after is None else after,
            timeout=timeout,
        )
        events: list[dict[str, Any]] = data["events"]
        return events

    async def _next_bot_messages(self, timeout: float) -> list[tuple[int, Message]]:  # noqa: ASYNC109
        events = await self.wait_events(timeout=timeout)
        found = []
        for event in events:
            message = event.get("message")
            is_bot = bool(message) and message.get("from", {}).get("id") == BOT_ID
            if event["kind"] in ("message", "edited") and is_bot:
                found.append((event["seq"], Message.from_api(message)))
        if events and not found:
            self.cursor = events[-1]["seq"]
        return found

    async def wait_for_bot_message(
        self,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """The next message the bot sends or edits here (after `after`, default the cursor)."""
        if after is not None:
            self.cursor = after
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            found = await self._next_bot_messages(remaining)
            if found:
                self.cursor = found[0][0]
                return found[0][1]
        raise AssertionError(f"the bot sent nothing to chat {self.chat_id} within {timeout}s")

    async def expect(self, substring: str, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """Wait for a bot message (new or edited) containing substring; fail listing what came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: list[str | None] = []
        while (remaining := deadline - loop.time()) > 0:
            for seq, message in await self._next_bot_messages(remaining):
                self.cursor = seq
                if substring in (message.text or ""):
                    return message
                seen.append(message.text)
        raise AssertionError(
            f"the bot never said {substring!r} in chat {self.chat_id} within {timeout}s; "
            f"it said: {seen!r}"
        )

    async def _press(self, button: str, message_id: int | None, user_id: int | None) -> str:
        messages = await self.messages()
        if message_id is None:
            with_keyboard = [m for m in messages if m.from_bot and m.buttons]
            if not with_keyboard:
                raise AssertionError(f"no bot message with an inline keyboard in {self.chat_id}")
            target = with_keyboard[-1]
        else:
            matches = [m for m in messages if m.message_id == message_id]
            if not matches:
                raise AssertionError(f"no message {message_id} in chat {self.chat_id}")
            target = matches[0]
        flat = [b for row in target.buttons for b in row]
        chosen = next((b for b in flat if b.text == button), None) or next(
            (b for b in flat if b.callback_data == button), None
        )
        if chosen is None or chosen.callback_data is None:
            raise AssertionError(
                f"no callback button {button!r} on message {target.message_id}; "
                f"buttons: {target.button_texts()!r}"
            )
        query = await self.client.call(
            "POST",
            f"/chats/{self.chat_id}/messages/{target.message_id}/press",
            {"callback_data": chosen.callback_data, "user_id": user_id},
        )
        query_id: str = query["id"]
        return query_id

    async def callback_answer(self, query_id: str) -> dict[str, Any]:
        """What the bot answered to a press."""
        return await self.client.callback_answer(query_id)

    async def wait_callback_answer(self, query_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the bot answers the press; return the answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            answer = await self.client.callback_answer(query_id)
            if answer["answered"] or loop.time() >= deadline:
                return answer
            await asyncio.sleep(0.01)


class SandboxUser(_ChatHandle):
    """A participant and their private chat with the bot."""

    def __init__(self, client: SandboxClient, user_id: int, profile: dict[str, Any]) -> None:
        super().__init__(client, user_id)
        self.user_id = user_id
        self.profile = profile

    async def send(self, text: str, reply_to: int | None = None) -> Message:
        """Send text ("/start abc" gets a bot_command entity)."""
        data = await self.client.call(
            "POST",
            f"/chats/{self.chat_id}/messages",
            {"text": text, "reply_to_message_id": reply_to},
        )
        return Message.from_api(data)

    async def send_voice(
        self,
        data: bytes,
        duration: int = 4,
        *,
        file_size: int | None = None,
        suffix: str | None = None,
        file_path: str | None = None,
        reply_to: int | None = None,
    ) -> Message:
        """Send a voice note (audio/ogg). file_size declares a size other than len(data)
        (over 20 MB, getFile answers "file is too big"); suffix replaces the file_path's ".oga"
        ("" for none); file_path replaces the whole path getFile hands out; reply_to makes it
        a reply to that message."""
        body = {
            "data_base64": base64.b64encode(data).decode(),
            "duration": duration,
            **_file_options(file_size, suffix, file_path),
            **({"reply_to_message_id": reply_to} if reply_to is not None else {}),
        }
        return Message.from_api(
            await self.client.call("POST", f"/chats/{self.chat_id}/voice", body)
        )

    async def send_audio(
        self,
        data: bytes,
        duration: int = 4,
        *,
        title: str | None = None,
        performer: str | None = None,
        file_name: str | None = None,
        caption: str | None = None,
        file_size: int | None = None,
        suffix: str | None = None,
        file_path: str | None = None,
    ) -> Message:
        """Send a music file (audio/mpeg); the file options are as for send_voice."""
        body = {
            "data_base64": base64.b64encode(data).decode(),
            "duration": duration,
            "title": title,
            "performer": performer,
            "file_name": file_name,
            "caption": caption,
            **_file_options(file_size, suffix, file_path),
        }
        return Message.from_api(
            await self.client.call("POST", f"/chats/{self.chat_id}/audio", body)
        )

    async def send_document(
        self,
        data: bytes,
        file_name: str | None = None,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        file_size: int | None = None,
        suffix: str | None = None,
        file_path: str | None = None,
    ) -> Message:
        """Send a document; the file options are as for send_voice (by default the suffix
        comes from file_name)."""
        body = {
            "data_base64": base64.b64encode(data).decode(),
            "file_name": file_name,
            "mime_type": mime_type,
            "caption": caption,
            **_file_options(file_size, suffix, file_path),
        }
        return Message.from_api(
            await self.client.call("POST", f"/chats/{self.chat_id}/document", body)
        )

    async def send_sticker(self, emoji: str = "👍") -> Message:
        """Send a sticker."""
        return Message.from_api(
            await self.client.call("POST", f"/chats/{self.chat_id}/sticker", {"emoji": emoji})
        )

    async def send_photo(self, data: bytes | None = None, caption: str | None = None) -> Message:
        """Send a photo (a placeholder image unless data is given)."""
        body: dict[str, Any] = {"caption": caption}
        if data is not None:
            body["data_base64"] = base64.b64encode(data).decode()
        return Message.from_api(
            await self.client.call("POST", f"/chats/{self.chat_id}/photo", body)
        )

    async def edit(self, message_id: int, text: str) -> Message:
        """Edit one of this user's text messages (an edited_message update)."""
        return Message.from_api(
            await self.client.call(
                "POST", f"/chats/{self.chat_id}/messages/{message_id}/edit", {"text": text}
            )
        )

    async def press(self, button: str, message_id: int | None = None) -> str:
        """Press a button by text (or callback_data); returns the callback query id."""
        return await self._press(button, message_id, None)

    async def block(self) -> None:
        """Block the bot."""
        await self.client.call("POST", f"/users/{self.user_id}/block")

    async def unblock(self) -> None:
        """Unblock the bot."""
        await self.client.call("POST", f"/users/{self.user_id}/unblock")

    async def delete_account(self) -> None:
        """Delete this user's account: the bot's sends now fail with "user is deactivated"."""
        await self.client.call("POST", f"/users/{self.user_id}/delete")


class SandboxGroup(_ChatHandle):
    """A group chat with the bot in it."""

    async def send(self, user_id: int, text: str) -> Message:
        """A member posts text (the bot only sees commands, mentions and replies to it)."""
        data = await self.client.call(
            "POST", f"/chats/{self.chat_id}/messages", {"text": text, "user_id": user_id}
        )
        return Message.from_api(data)

    async def press(self, user_id: int, button: str, message_id: int | None = None) -> str:
        """A member presses a button; returns the callback query id."""
        return await self._press(button, message_id, user_id)
