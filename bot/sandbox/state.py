"""The Telegram-like world behind the sandbox: users, chats, messages, updates, events.

Plain Python with no I/O so it can be unit tested and driven by any front end.

Updates queue in arrival order. getUpdates with an offset confirms (removes) every update whose
update_id is below it; the world records which ids were confirmed and when (``confirmations``),
which were forgotten unconfirmed (a negative offset, ``deleteWebhook(drop_pending_updates)``),
which pending ones were already handed out (``in_flight``), and how often getUpdates was called
(counted by botapi.py). ``inject_update`` queues any JSON object as-is, as an old self-hosted
Bot API server or a buggy proxy might send it: no validation, no normalisation, an update_id only
if it has none. An update whose update_id is not an integer cannot be confirmed by an offset; it
is dropped by the first getUpdates with an offset after it was handed out.

While a webhook is set (``webhook``, by setWebhook), getUpdates is refused and webhook.py posts
the queued updates to it instead; ``webhook_delivered`` confirms one the bot acknowledged, and
is recorded in ``confirmations`` like a getUpdates confirmation.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import ApiError, ControlError
from .models import BOT_FROM, BOT_ID, BOT_USER, BOT_USERNAME, CallbackQuery, Chat, User

__all__ = [
    "BOT_ID",
    "BOT_USER",
    "BOT_USERNAME",
    "CallbackQuery",
    "Chat",
    "User",
    "Webhook",
    "World",
    "chat_of_update",
    "commands_key",
]

# Telegram's default when allowed_updates was never set: everything except these.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
# The optional fields of Update in the Bot API spec (a test keeps this in step with api.json).
UPDATE_KINDS = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "guest_message",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
        "managed_bot",
    }
)
# How many confirmations and forgotten ids the record keeps (the oldest go first).
MAX_UPDATE_RECORD = 100_000


def commands_key(scope: dict[str, Any], language_code: str = "") -> str:
    """Where a command list is kept in ``World.commands``: its scope (JSON) and language."""
    return json.dumps([scope, language_code], sort_keys=True)


@dataclass
class Webhook:
    """The webhook setWebhook set, and how delivering to it went (for getWebhookInfo)."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


def chat_of_update(update: dict[str, Any]) -> int | None:
    """The chat an update belongs to (its sender's for a chat-less one), or None.

    Webhook deliveries keep each chat's updates in update_id order by this key.
    """
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        for holder in (payload, payload.get("message")):
            chat = holder.get("chat") if isinstance(holder, dict) else None
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
        sender = payload.get("from") or payload.get("user")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


def _int_id(update: dict[str, Any]) -> int | None:
    """The update_id if it is a real integer (raw updates may carry anything)."""
    value = update.get("update_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class World:
    """All sandbox state. Mutations notify listeners so long-polls can wake up."""

    def __init__(
        self, callback_query_ttl: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.callback_query_ttl = callback_query_ttl
        self.clock = clock
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.updates: deque[dict[str, Any]] = deque()
        self.allowed_updates: set[str] | None = None
        self.callback_queries: dict[str, CallbackQuery] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.listeners: list[Callable[[], None]] = []
        self._update_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.last_seq = 0
        self._handed_out: dict[int, dict[str, Any]] = {}  # id(update) -> pending update
        self._irregular = False  # raw updates with their own ids may be out of order
        self.webhook: Webhook | None = None  # set by setWebhook: no getUpdates meanwhile
        # Where a load balancer at the webhook's URL forwards each delivery, in turn (several
        # bot processes, each on its own address); set through the control API. Empty: to the
        # webhook's URL itself.
        self.webhook_targets: list[str] = []
        self.reset_update_record()

    def reset_update_record(self) -> None:
        """Forget which updates were confirmed or forgotten and the getUpdates counters."""
        # (update_id, time.time()) in confirmation order.
        self.confirmations: deque[tuple[Any, float]] = deque(maxlen=MAX_UPDATE_RECORD)
        self.confirmed_count = 0
        self.forgotten: deque[Any] = deque(maxlen=MAX_UPDATE_RECORD)
        self.get_updates_calls = 0  # counted per HTTP call by botapi.py
        self.get_updates_empty = 0  # of which answered with no updates

    # -- plumbing ---------------------------------------------------------------------------

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def _emit(self, chat: Chat, kind: str, **payload: Any) -> dict[str, Any]:
        self.last_seq = next(self._seq)
        event = {"seq": self.last_seq, "chat_id": chat.id, "kind": kind, **payload}
        chat.events.append(event)
        self._changed()
        return event

    def _wanted(self, kind: str) -> bool:
        """Whether Telegram would create an update of this kind (it never creates updates the
        bot did not ask for)."""
        allowed = self.allowed_updates
        if allowed is None:
            return kind not in _OPT_IN_UPDATES
        return kind in allowed

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> None:
        if not self._wanted(kind):
            return
        self.updates.append({"update_id": next(self._update_ids), kind: payload})
        self._changed()

    def inject_update(self, update: dict[str, Any]) -> tuple[bool, Any]:
        """Queue any JSON object as an update, as-is: returns (queued, its update_id).

        The update_id is assigned unless the object has one (an integer one at or above the
        next id moves the counter past it, so later ids keep increasing). allowed_updates is
        respected only when the object carries known update kinds and none of them is wanted;
        unknown kinds are queued anyway.
        """
        known = [key for key in update if key in UPDATE_KINDS]
        if known and not any(self._wanted(kind) for kind in known):
            return False, update.get("update_id")
        if "update_id" in update:
            given = _int_id(update)
            following = next(self._update_ids)
            if given is not None and given >= following:
                self._update_ids = itertools.count(given + 1)
            else:
                self._update_ids = itertools.count(following)
                # Out of order (or no integer id): confirming must scan the whole queue.
                self._irregular |= given is None or bool(self.updates)
            raw = dict(update)
        else:
            raw = {"update_id": next(self._update_ids), **update}
        self.updates.append(raw)
        self._changed()
        return True, raw["update_id"]

    def _new_message(
        self, chat: Chat, sender: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        message = {
            "message_id": message_id,
            "from": sender,
            "chat": chat.to_dict(),
            "date": int(time.time()),
            **content,
        }
        chat.messages[message_id] = message
        return message

    # -- participants -----------------------------------------------------------------------

    def ensure_user(self, user_id: int, first_name: str = "User", **extra: Any) -> User:
        """Create the user (and their private chat) or update their profile."""
        if user_id <= 0:
            raise ControlError("user ids must be positive")
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = User(user_id, first_name, **extra)
            self.chats[user_id] = Chat(user_id, "private", user=user)
        else:
            user.first_name = first_name
            for key, value in extra.items():
                setattr(user, key, value)
        return user

    def user(self, user_id: int) -> User:
        """A known user or ControlError."""
        if user_id not in self.users:
            raise ControlError(f"unknown user {user_id}", 404)
        return self.users[user_id]

    def chat(self, chat_id: int) -> Chat:
        """A known chat or ControlError."""
        if chat_id not in self.chats:
            raise ControlError(f"unknown chat {chat_id}", 404)
        return self.chats[chat_id]

    def ensure_group(self, chat_id: int, title: str, added_by: int | None = None) -> Chat:
        """Create a group with the bot in it (a my_chat_member update if someone added it)."""
        if chat_id >= 0:
            raise ControlError("group chat ids must be negative")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = Chat(chat_id, "group", title=title)
            if added_by is not None:
                self._member_update(chat, self.user(added_by), "left", "member")
        chat.title = title
        return chat

    def _member_update(self, chat: Chat, actor: User, old: str, new: str) -> None:
        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": BOT_FROM}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_dict(),
                "from": actor.to_dict(),
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        )

    def set_blocked(self, user_id: int, blocked: bool) -> User:
        """Block/unblock the bot, as the user's client would (with a my_chat_member update)."""
        user = self.user(user_id)
        if user.blocked != blocked:
            user.blocked = blocked
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            self._member_update(self.chats[user_id], user, old, new)
        return user

    def deactivate(self, user_id: int) -> User:
        """The user deletes their account: the bot gets 403 "user is deactivated" from now on."""
        user = self.user(user_id)
        user.deactivated = True
        return user

    def _sender(self, chat: Chat, user_id: int | None) -> User:
        if chat.user is not None and chat.user.deactivated:
            raise ControlError("this user deleted their account", 409)
        if chat.user is None and user_id is not None and self.user(user_id).deactivated:
            raise ControlError("this user deleted their account", 409)
        if chat.user is not None:
            if user_id not in (None, chat.user.id):
                raise ControlError("only the chat's own user can write in a private chat")
            if chat.user.blocked:
                raise ControlError("this user has blocked the bot; unblock it first", 409)
            chat.user.started = True
            return chat.user
        if user_id is None:
            raise ControlError("user_id is required in a group")
        return self.user(user_id)

    def _bot_sees(self, chat: Chat, message: dict[str, Any]) -> bool:
        # Privacy mode (can_read_all_group_messages is false): commands, mentions, replies.
        if chat.user is not None:
            return True
        text = message.get("text") or message.get("caption") or ""
        reply = message.get("reply_to_message") or {}
        return (
            text.startswith("/")
            or f"@{BOT_USERNAME}" in text
            or reply.get("from", {}).get("id") == BOT_ID
        )

    def user_message(
        self,
        chat_id: int,
        content: dict[str, Any],
        user_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """A participant posts a message (text, voice, sticker, photo...)."""
        chat = self.chat(chat_id)
        sender = self._sender(chat, user_id)
        if reply_to_message_id is not None:
            if reply_to_message_id not in chat.messages:
                raise ControlError(f"no message {reply_to_message_id} in chat {chat_id}")
            content = {**content, "reply_to_message": chat.messages[reply_to_message_id]}
        message = self._new_message(chat, sender.to_dict(), content)
        if self._bot_sees(chat, message):
            self._enqueue("message", message)
        self._emit(chat, "message", message=message)
        return message

    def user_edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        entities: list[dict[str, Any]],
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A participant edits one of their own text messages."""
        chat = self.chat(chat_id)
        sender = self._sender(chat, user_id)
        old = chat.messages.get(message_id)
        if old is None or old["from"]["id"] != sender.id or "text" not in old:
            raise ControlError("participants can only edit their own text messages")
        message = {k: v for k, v in old.items() if k != "entities"}
        message |= {"text": text, "edit_date": int(time.time())}
        if entities:
            message["entities"] = entities
        chat.messages[message_id] = message
        if self._bot_sees(chat, message):
            self._enqueue("edited_message", message)
        self._emit(chat, "edited", message=message)
        return message

    def press(
        self, chat_id: int, message_id: int, callback_data: str, user_id: int | None = None
    ) -> CallbackQuery:
        """A participant presses an inline button that is really on that message."""
        chat = self.chat(chat_id)
        sender = self._sender(chat, user_id)
        message = chat.messages.get(message_id)
        if message is None:
            raise ControlError(f"no message {message_id} in chat {chat_id}", 404)
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        if not any(b.get("callback_data") == callback_data for row in rows for b in row):
            raise ControlError(f"message {message_id} has no button with that callback_data")
        query = CallbackQuery(
            str(secrets.randbits(63)), sender, chat_id, message_id, callback_data, self.clock()
        )
        self.callback_queries[query.id] = query
        self._enqueue(
            "callback_query",
            {
                "id": query.id,
                "from": sender.to_dict(),
                "message": message,
                "chat_instance": str(abs(chat_id) * 7919 % 10**18),
                "data": callback_data,
            },
        )
        return query

    # -- the bot's side ---------------------------------------------------------------------

    def bot_chat(self, chat_id: int | str) -> Chat:
        """Resolve a chat_id the bot used, with Telegram's errors."""
        try:
            chat = self.chats[int(chat_id)]
        except (KeyError, ValueError):
            raise ApiError(400, errors.CHAT_NOT_FOUND) from None
        if chat.user is not None:
            if chat.user.deactivated:
                raise ApiError(403, errors.USER_DEACTIVATED)
            if chat.user.blocked:
                raise ApiError(403, errors.BOT_BLOCKED)
            if not chat.user.started:
                raise ApiError(403, errors.CANT_INITIATE)
        elif not chat.bot_member:
            raise ApiError(403, errors.NOT_A_MEMBER)
        return chat

    def bot_send(self, chat: Chat, content: dict[str, Any]) -> dict[str, Any]:
        """The bot posts a message; the event exists before the bot gets its response."""
        message = self._new_message(chat, BOT_FROM, content)
        self._emit(chat, "message", message=message)
        return message

    def bot_message(self, chat: Chat, message_id: int, missing: str) -> dict[str, Any]:
        """A message in the chat, or the given Telegram error."""
        message = chat.messages.get(message_id)
        if message is None:
            raise ApiError(400, missing)
        return message

    def bot_edit(self, chat: Chat, message_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Replace content fields (None removes a field) and stamp edit_date."""
        old = self.bot_message(chat, message_id, errors.MESSAGE_TO_EDIT_NOT_FOUND)
        if old["from"]["id"] != BOT_ID:
            raise ApiError(400, errors.MESSAGE_CANT_BE_EDITED)
        if "text" in changes and "text" not in old:
            raise ApiError(400, errors.NO_TEXT_TO_EDIT)
        new = {k: v for k, v in old.items() if k not in changes and k != "edit_date"}
        new |= {k: v for k, v in changes.items() if v is not None}
        if {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in old.items() if k != "edit_date"
        }:
            raise ApiError(400, errors.MESSAGE_NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        chat.messages[message_id] = new
        self._emit(chat, "edited", message=new)
        return new

    def bot_delete(self, chat: Chat, message_id: int) -> None:
        """Delete a message (in groups without admin rights, only the bot's own)."""
        message = self.bot_message(chat, message_id, errors.MESSAGE_TO_DELETE_NOT_FOUND)
        if chat.user is None and message["from"]["id"] != BOT_ID:
            raise ApiError(400, errors.MESSAGE_CANT_BE_DELETED)
        del chat.messages[message_id]
        self._emit(chat, "deleted", message_id=message_id)

    def chat_action(self, chat: Chat, action: str) -> None:
        """Record "typing..." and friends for the demo page."""
        self._emit(chat, "chat_action", action=action)

    def answer_callback(
        self, query_id: str, text: str | None, show_alert: bool, url: str | None
    ) -> None:
        """Answer a press once, within the TTL, like Telegram."""
        query = self.callback_queries.get(query_id)
        if (
            query is None
            or query.answered
            or self.clock() - query.created > self.callback_query_ttl
        ):
            raise ApiError(400, errors.QUERY_TOO_OLD)
        query.answered, query.text, query.show_alert, query.url = True, text, show_alert, url
        self._emit(
            self.chats[query.chat_id], "callback_answered", callback_query=query.to_control()
        )

    def get_updates(
        self, offset: int | None, limit: int, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """Confirm updates below offset and return up to limit pending ones."""
        if allowed is not None:
            self.allowed_updates = set(allowed) or None
        if offset is not None and offset < 0:
            while len(self.updates) > -offset:
                self._forget(self.updates.popleft())
        elif offset is not None:
            self._confirm_below(offset)
        batch = list(itertools.islice(self.updates, max(1, min(limit, 100))))
        for update in batch:
            self._handed_out[id(update)] = update
        return batch

    def set_webhook(self, webhook: Webhook | None, allowed: list[str] | None) -> None:
        """setWebhook (None: remove it). ``allowed`` as getUpdates' allowed_updates."""
        if allowed is not None:
            self.allowed_updates = set(allowed) or None
        if webhook is not None and self.webhook is not None and webhook.url == self.webhook.url:
            webhook.last_error_date = self.webhook.last_error_date
            webhook.last_error_message = self.webhook.last_error_message
        self.webhook = webhook
        self._changed()

    def webhook_urls(self) -> list[str]:
        """Where the webhook's updates go, in round-robin order: the targets (each once), or
        the webhook's own URL when there are none; nowhere while no webhook is set."""
        if self.webhook is None:
            return []
        return list(dict.fromkeys(self.webhook_targets)) or [self.webhook.url]

    def webhook_failed(self, message: str) -> None:
        """A delivery got no 2xx: getWebhookInfo reports it, as Telegram's does."""
        if self.webhook is not None:
            self.webhook.last_error_date = int(time.time())
            self.webhook.last_error_message = message

    def webhook_delivered(self, update: dict[str, Any]) -> bool:
        """The bot acknowledged this (queued) update with a 2xx: confirm it."""
        for index, queued in enumerate(self.updates):
            if queued is update:
                del self.updates[index]
                self._confirmed(update, time.time())
                self._changed()
                return True
        return False  # dropped meanwhile (deleteWebhook with drop_pending_updates)

    def webhook_info(self) -> dict[str, Any]:
        """getWebhookInfo's WebhookInfo."""
        info: dict[str, Any] = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        hook = self.webhook
        if hook is None:
            return info
        info |= {"url": hook.url, "has_custom_certificate": hook.has_custom_certificate}
        if hook.ip_address:
            info["ip_address"] = hook.ip_address
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message or ""
        info["max_connections"] = hook.max_connections
        if self.allowed_updates is not None:
            info["allowed_updates"] = sorted(self.allowed_updates)
        return info

    def drop_pending_updates(self) -> None:
        """deleteWebhook(drop_pending_updates=True): forget every pending update."""
        while self.updates:
            self._forget(self.updates.popleft())

    def _forget(self, update: dict[str, Any]) -> None:
        self._handed_out.pop(id(update), None)
        self.forgotten.append(update.get("update_id"))

    def _confirm_below(self, offset: int) -> None:
        """Remove (and record) every update with an id below offset, plus handed-out updates
        without an integer id (a client cannot confirm those any other way)."""
        now = time.time()
        if not self._irregular:  # ids increase along the queue: confirm from the front
            while self.updates and self.updates[0]["update_id"] < offset:
                self._confirmed(self.updates.popleft(), now)
            return
        kept: deque[dict[str, Any]] = deque()
        for update in self.updates:
            update_id = _int_id(update)
            handed_out = id(update) in self._handed_out
            if handed_out if update_id is None else update_id < offset:
                self._confirmed(update, now)
            else:
                kept.append(update)
        self.updates = kept
        self._irregular = bool(kept)

    def _confirmed(self, update: dict[str, Any], now: float) -> None:
        self._handed_out.pop(id(update), None)
        self.confirmations.append((update.get("update_id"), now))
        self.confirmed_count += 1

    def update_record(self) -> dict[str, Any]:
        """The getUpdates record, JSON-ready (the control API's GET /sandbox/updates)."""
        return {
            "pending": [u.get("update_id") for u in self.updates],
            "in_flight": [u.get("update_id") for u in self.updates if id(u) in self._handed_out],
            "confirmed": [update_id for update_id, _ in self.confirmations],
            "confirmations": [{"update_id": i, "at": at} for i, at in self.confirmations],
            "confirmed_count": self.confirmed_count,
            "forgotten": list(self.forgotten),
            "get_updates_calls": self.get_updates_calls,
            "get_updates_empty": self.get_updates_empty,
            "allowed_updates": None
            if self.allowed_updates is None
            else sorted(self.allowed_updates),
        }

    def menu(self, chat_id: int, language_code: str = "") -> list[dict[str, Any]]:
        """The commands a chat's menu shows to a member who is not an admin, found as Telegram
        does: the chat's own list, else private or group chats', else the default; each in
        the language, else without one."""
        chat = self.chat(chat_id)
        kind = "all_private_chats" if chat.user is not None else "all_group_chats"
        for scope in ({"type": "chat", "chat_id": chat.id}, {"type": kind}, {"type": "default"}):
            for language in dict.fromkeys((language_code, "")):
                if found := self.commands.get(commands_key(scope, language)):
                    return found
        return []

    def events_after(self, chat_id: int, after: int) -> list[dict[str, Any]]:
        """A chat's events with seq > after."""
        return [e for e in self.chat(chat_id).events if e["seq"] > after]
