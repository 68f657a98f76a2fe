"""The Bot API methods the sandbox implements, with Telegram's results and errors."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import errors
from .errors import ApiError, bad_request
from .files import FileStore, StoredFile
from .formatting import format_text
from .models import BOT_USER, Chat
from .params import Params, Upload
from .state import Webhook, World, commands_key

# Counted in Python characters (code points), as Telegram counts characters, not UTF-16 units.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes of UTF-8
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_SECRET_TOKEN = 256
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_MAX_CONNECTIONS = 40
PUBLIC_WEBHOOK_PORTS = (443, 80, 88, 8443)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}

Handler = Callable[[Params], Awaitable[Any]]


class BotApi:
    """Implements Bot API methods over a World and a FileStore."""

    def __init__(
        self,
        world: World,
        files: FileStore,
        wait: Callable[[float], Awaitable[None]],
        closing: Callable[[], bool],
    ) -> None:
        self.world = world
        self.files = files
        self._wait = wait
        self._closing = closing
        self.webhook_https_only = False  # True: setWebhook as strict as Telegram's own server
        self.handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "logOut": self.true,
            "close": self.true,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendVoice": self.send_voice,
            "getFile": self.get_file,
        }

    # -- bot & updates ----------------------------------------------------------------------

    async def true(self, p: Params) -> bool:
        """Methods whose only effect is returning True here."""
        return True

    async def get_me(self, p: Params) -> dict[str, Any]:
        """The bot's identity."""
        return dict(BOT_USER)

    async def get_updates(self, p: Params) -> list[dict[str, Any]]:
        """Long-poll: return as soon as there is an update or the timeout passes."""
        if self.world.webhook is not None:
            raise ApiError(409, errors.WEBHOOK_ACTIVE)
        offset, limit = p.get_int("offset"), p.get_int("limit", 100) or 100
        timeout = max(0, p.get_int("timeout", 0) or 0)
        allowed = p.get_json("allowed_updates")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.world.get_updates_calls += 1
        while True:
            updates = self.world.get_updates(offset, limit, allowed)
            remaining = deadline - loop.time()
            if updates or remaining <= 0 or self._closing():
                if not updates:
                    self.world.get_updates_empty += 1
                return updates
            await self._wait(remaining)

    async def set_webhook(self, p: Params) -> bool:
        """setWebhook: from now on updates are posted to the URL (an empty URL removes it).

        Like a self-hosted Bot API server (``--local``) the sandbox calls http:// URLs on any
        port, unless ``webhook_https_only`` holds it to Telegram's rules (HTTPS; ports 443,
        80, 88 and 8443). max_connections is clamped to 1-100, as Telegram does.
        """
        url = p.get_str("url") or ""
        secret = p.get_str("secret_token") or None
        if secret is not None:
            if len(secret) > MAX_SECRET_TOKEN:
                raise bad_request("secret token is too long")
            if not SECRET_TOKEN_RE.fullmatch(secret):
                raise bad_request("secret token contains unallowed characters")
        allowed = p.get_json("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise bad_request("can't parse allowed_updates JSON object")
        if p.get_bool("drop_pending_updates"):
            self.world.drop_pending_updates()
        if not url:
            self.world.set_webhook(None, allowed)
            return True
        self._check_webhook_url(url)
        connections = p.get_int("max_connections", DEFAULT_MAX_CONNECTIONS)
        webhook = Webhook(
            url=url,
            secret_token=secret,
            max_connections=min(max(connections or DEFAULT_MAX_CONNECTIONS, 1), 100),
            ip_address=p.get_str("ip_address") or None,
            has_custom_certificate=p.get_file("certificate") is not None,
        )
        self.world.set_webhook(webhook, allowed)
        return True

    def _check_webhook_url(self, url: str) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise bad_request("bad webhook: Webhook port is invalid") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: " + errors.WEBHOOK_NEEDS_HTTPS)
        if self.webhook_https_only:
            if parts.scheme != "https":
                raise bad_request("bad webhook: " + errors.WEBHOOK_NEEDS_HTTPS)
            if port not in (None, *PUBLIC_WEBHOOK_PORTS):
                raise bad_request("bad webhook: " + errors.WEBHOOK_PORTS)

    async def delete_webhook(self, p: Params) -> bool:
        """Remove the webhook (getUpdates works again); honour drop_pending_updates."""
        if p.get_bool("drop_pending_updates"):
            self.world.drop_pending_updates()
        if self.world.webhook is not None:
            self.world.set_webhook(None, None)
        return True

    async def get_webhook_info(self, p: Params) -> dict[str, Any]:
        """The WebhookInfo: an empty url while the bot uses getUpdates."""
        return self.world.webhook_info()

    def _commands_key(self, p: Params) -> str:
        """The stored list's key: the scope (as JSON, its chat_id a number) and the language.

        A scope naming a chat the bot cannot see (unknown, or a user who never started the bot)
        is refused with "chat not found", as on Telegram.
        """
        scope = p.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict):
            raise bad_request("can't parse BotCommandScope JSON object")
        if "chat_id" in scope:
            chat = self._scope_chat(scope["chat_id"])
            scope = {**scope, "chat_id": chat.id}
        return commands_key(scope, p.get_str("language_code") or "")

    def _scope_chat(self, chat_id: Any) -> Chat:
        try:
            chat = self.world.chats[int(chat_id)]
        except (KeyError, TypeError, ValueError):
            raise ApiError(400, errors.CHAT_NOT_FOUND) from None
        if chat.user is not None and not chat.user.started:
            raise ApiError(400, errors.CHAT_NOT_FOUND)
        return chat

    async def set_my_commands(self, p: Params) -> bool:
        """Store the command list per scope and language."""
        commands = p.get_json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not (1 <= len(str(command.get("description", ""))) <= 256):
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.world.commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def get_my_commands(self, p: Params) -> list[dict[str, Any]]:
        """The commands stored for that scope and language."""
        return self.world.commands.get(self._commands_key(p), [])

    async def delete_my_commands(self, p: Params) -> bool:
        """Forget the commands for that scope and language."""
        self.world.commands.pop(self._commands_key(p), None)
        return True

    # -- messages ---------------------------------------------------------------------------

    def _chat(self, p: Params) -> Chat:
        return self.world.bot_chat(p.get_chat_id())

    def _markup(self, p: Params, chat: Chat | None) -> dict[str, Any] | None:
        """Validate reply_markup; return it if inline (only those live on the Message)."""
        markup = p.get_json("reply_markup")
        if not isinstance(markup, dict):
            return None
        if "inline_keyboard" in markup:
            for row in markup["inline_keyboard"]:
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                        raise ApiError(400, errors.BUTTON_DATA_INVALID)
            return markup if markup["inline_keyboard"] else None
        # Reply keyboards are client state, not part of the Message; keep them on the chat.
        if chat is not None and "keyboard" in markup:
            chat.reply_keyboard = markup
        elif chat is not None and markup.get("remove_keyboard"):
            chat.reply_keyboard = None
        return None

    def _text(
        self, p: Params, field: str, entities_field: str, limit: int, too_long: str
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = p.get_str(field) or ""
        text, entities = format_text(raw, p.get_str("parse_mode"), p.get_json(entities_field))
        if len(text) > limit:
            raise ApiError(400, too_long)
        return text, entities

    def _reply_to(self, p: Params, chat: Chat) -> dict[str, Any]:
        reply = p.get_json("reply_parameters")
        if not isinstance(reply, dict) or "message_id" not in reply:
            return {}
        target = chat.messages.get(int(reply["message_id"]))
        if target is None:
            if reply.get("allow_sending_without_reply"):
                return {}
            raise ApiError(400, errors.REPLIED_NOT_FOUND)
        return {"reply_to_message": {k: v for k, v in target.items() if k != "reply_to_message"}}

    async def send_message(self, p: Params) -> dict[str, Any]:
        """sendMessage."""
        chat = self._chat(p)
        text, entities = self._text(p, "text", "entities", MAX_TEXT, errors.MESSAGE_TOO_LONG)
        if not text.strip():
            raise ApiError(400, errors.MESSAGE_TEXT_EMPTY)
        markup = self._markup(p, chat)
        content: dict[str, Any] = {**self._reply_to(p, chat), "text": text}
        if entities:
            content["entities"] = entities
        if p.get_json("link_preview_options"):
            content["link_preview_options"] = p.get_json("link_preview_options")
        if markup:
            content["reply_markup"] = markup
        return self.world.bot_send(chat, content)

    def _edit_target(self, p: Params) -> tuple[Chat, int]:
        if p.values.get("inline_message_id"):
            raise ApiError(400, errors.MESSAGE_TO_EDIT_NOT_FOUND)  # no inline mode here
        if p.values.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        message_id = p.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return self._chat(p), message_id

    async def edit_message_text(self, p: Params) -> dict[str, Any]:
        """editMessageText (omitting reply_markup removes the inline keyboard, as on Telegram)."""
        chat, message_id = self._edit_target(p)
        text, entities = self._text(p, "text", "entities", MAX_TEXT, errors.MESSAGE_TOO_LONG)
        if not text.strip():
            raise ApiError(400, errors.MESSAGE_TEXT_EMPTY)
        markup = self._markup(p, None)
        return self.world.bot_edit(
            chat, message_id, {"text": text, "entities": entities or None, "reply_markup": markup}
        )

    async def edit_message_reply_markup(self, p: Params) -> dict[str, Any]:
        """editMessageReplyMarkup."""
        chat, message_id = self._edit_target(p)
        return self.world.bot_edit(chat, message_id, {"reply_markup": self._markup(p, None)})

    async def delete_message(self, p: Params) -> bool:
        """deleteMessage."""
        chat = self._chat(p)
        self.world.bot_delete(chat, p.get_int("message_id") or 0)
        return True

    async def answer_callback_query(self, p: Params) -> bool:
        """answerCallbackQuery: once per query, within the TTL."""
        self.world.answer_callback(
            p.get_str("callback_query_id") or "",
            p.get_str("text"),
            p.get_bool("show_alert"),
            p.get_str("url"),
        )
        return True

    async def send_chat_action(self, p: Params) -> bool:
        """sendChatAction."""
        chat = self._chat(p)
        action = p.get_str("action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.world.chat_action(chat, action)
        return True

    # -- files ------------------------------------------------------------------------------

    async def _input_file(self, value: Upload | str | None, kind: str) -> StoredFile:
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            return await self.files.put(value.data, kind, value.filename, value.content_type)
        if value and value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the sandbox is offline
        record = self.files.get(value or "")
        if record is None:
            raise ApiError(400, errors.WRONG_FILE_ID)
        return record

    async def send_document(self, p: Params) -> dict[str, Any]:
        """sendDocument: a multipart upload or an existing file_id."""
        chat = self._chat(p)
        caption, entities = self._text(
            p, "caption", "caption_entities", MAX_CAPTION, errors.CAPTION_TOO_LONG
        )
        record = await self._input_file(p.get_file("document"), "document")
        document: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
        }
        if record.file_name:
            document["file_name"] = record.file_name
        document["mime_type"] = record.mime_type or "application/octet-stream"
        document["file_size"] = record.reported_size
        return self._send_media(p, chat, {"document": document}, caption, entities)

    async def send_voice(self, p: Params) -> dict[str, Any]:
        """sendVoice: an OGG voice note, uploaded or by file_id, with its duration if given."""
        chat = self._chat(p)
        caption, entities = self._text(
            p, "caption", "caption_entities", MAX_CAPTION, errors.CAPTION_TOO_LONG
        )
        record = await self._input_file(p.get_file("voice"), "voice")
        voice: dict[str, Any] = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "duration": p.get_int("duration") or 0,
            "mime_type": record.mime_type or "audio/ogg",
            "file_size": record.reported_size,
        }
        return self._send_media(p, chat, {"voice": voice}, caption, entities)

    async def send_photo(self, p: Params) -> dict[str, Any]:
        """sendPhoto: an upload or file_id, answered with the PhotoSize list Telegram gives."""
        chat = self._chat(p)
        caption, entities = self._text(
            p, "caption", "caption_entities", MAX_CAPTION, errors.CAPTION_TOO_LONG
        )
        record = await self._input_file(p.get_file("photo"), "photo")
        head = await asyncio.to_thread(_head, record.disk_path)
        width, height = _image_size(head)
        sizes = []
        for scale in (4, 1):  # a thumbnail, then the full size, smallest first
            sizes.append(
                {
                    "file_id": record.file_id if scale == 1 else self.files.alias(record, "photo"),
                    "file_unique_id": record.file_unique_id + ("" if scale == 1 else "-s"),
                    "width": max(1, width // scale),
                    "height": max(1, height // scale),
                    "file_size": record.size if scale == 1 else max(1, record.size // 16),
                }
            )
        return self._send_media(p, chat, {"photo": sizes}, caption, entities)

    def _send_media(
        self,
        p: Params,
        chat: Any,
        media: dict[str, Any],
        caption: str | None,
        entities: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        content: dict[str, Any] = {**self._reply_to(p, chat), **media}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        markup = self._markup(p, chat)
        if markup:
            content["reply_markup"] = markup
        return self.world.bot_send(chat, content)

    async def get_file(self, p: Params) -> dict[str, Any]:
        """getFile: a File whose file_path downloads from /file/bot<token>/<file_path>."""
        file_id = p.get_str("file_id") or ""
        record = self.files.get(file_id)
        if record is None:
            raise ApiError(400, errors.INVALID_FILE_ID)
        if record.reported_size > MAX_DOWNLOAD:  # a declared size counts, as on Telegram
            raise bad_request("file is too big")
        return record.to_file(file_id)


def _image_size(head: bytes) -> tuple[int, int]:
    """Width and height from a PNG header; a plausible default for anything else."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return 800, 600


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(32)
