"""Plain data objects of the sandbox world: the bot's identity, users, chats, button presses."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

BOT_ID = 7000000001
BOT_USERNAME = "everystage_bot"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Everystage",
    "username": BOT_USERNAME,
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
BOT_FROM = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}

EVENTS_PER_CHAT = 2000


@dataclass
class User:
    """A human participant."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    started: bool = False
    blocked: bool = False
    deactivated: bool = False  # the account was deleted

    def to_dict(self) -> dict[str, Any]:
        """The Bot API User object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data

    def to_control(self) -> dict[str, Any]:
        """The control API view, with sandbox-only flags."""
        return {
            **self.to_dict(),
            "chat_id": self.id,
            "started": self.started,
            "blocked": self.blocked,
            "deactivated": self.deactivated,
        }


@dataclass
class Chat:
    """A private chat or a group, with its messages as they are now."""

    id: int
    type: str
    title: str | None = None
    user: User | None = None
    bot_member: bool = True
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=EVENTS_PER_CHAT))

    def to_dict(self) -> dict[str, Any]:
        """The Bot API Chat object."""
        if self.user is not None:
            return {
                k: v
                for k, v in self.user.to_dict().items()
                if k in ("id", "first_name", "last_name", "username")
            } | {"type": "private"}
        return {"id": self.id, "type": self.type, "title": self.title}


@dataclass
class CallbackQuery:
    """A button press and what the bot answered."""

    id: str
    user: User
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False
    text: str | None = None
    show_alert: bool = False
    url: str | None = None

    def to_control(self) -> dict[str, Any]:
        """The control API view."""
        return {
            "id": self.id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "data": self.data,
            "answered": self.answered,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
        }
