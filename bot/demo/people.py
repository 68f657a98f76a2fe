"""Simulated participants: create them, list them, and start them at a chosen check-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.sandbox import Sandbox
from bot.sandbox.formatting import command_entities
from bot.sandbox.models import BOT_ID
from bot.services import Services
from storage import participants

FIRST_USER_ID = 5001
# The coordinator the page writes and presses as in the coordinators' chat: listed as a
# coordinator in the settings the demo runs with (server.demo_settings), never a participant.
DEMO_COORDINATOR_ID = 4000
DEMO_COORDINATOR_NAME = "Demo coordinator"
NAMES = ("Alex", "Sam", "Jo", "Priya", "Kwame", "Mei", "Tomasz", "Amina", "Rory", "Zainab")
PRESET_TIMEOUT = 10.0


class PresetError(RuntimeError):
    """The bot did not reach the requested state."""


def new_user_id(sandbox: Sandbox) -> int:
    """The next free demo user id."""
    return max([FIRST_USER_ID - 1, *sandbox.world.users]) + 1


def create(
    sandbox: Sandbox, first_name: str | None = None, language_code: str | None = None
) -> dict[str, Any]:
    """A new simulated participant with a private chat (nothing is sent yet), their phone set
    to ``language_code`` if given (Telegram tells the bot, which suggests it at /start)."""
    user_id = new_user_id(sandbox)
    name = first_name or NAMES[(user_id - FIRST_USER_ID) % len(NAMES)]
    extra = {"language_code": language_code} if language_code else {}
    return sandbox.world.ensure_user(user_id, name, **extra).to_control()


async def describe(sandbox: Sandbox, services: Services) -> list[dict[str, Any]]:
    """Every simulated participant, with what the bot's database says about them."""
    people = []
    for user in sandbox.world.users.values():
        if user.id == DEMO_COORDINATOR_ID:
            continue
        person = await participants.by_chat(services.db, user.id)
        session = await participants.session(services.db, person.id) if person else None
        people.append(
            {
                **user.to_control(),
                "consented": person is not None and person.status != "stopped",
                "status": person.status if person else None,
                "pseudonym": person.pseudonym if person else None,
                "checkin_in_progress": session.checkin_id if session else None,
            }
        )
    return people


async def restore(sandbox: Sandbox, services: Services) -> int:
    """Give participants already in a kept database (``--db``) their chats back."""
    async with services.db.read() as tx:
        found = await tx.all("SELECT chat_id FROM participants WHERE chat_id > 0 ORDER BY chat_id")
    for (chat_id,) in found:
        user = sandbox.world.ensure_user(chat_id, NAMES[(chat_id - FIRST_USER_ID) % len(NAMES)])
        user.started = True  # they talked to the bot in an earlier run
    return len(found)


def send_text(sandbox: Sandbox, chat_id: int, text: str) -> dict[str, Any]:
    """The participant types and sends text (commands get their entities, as in Telegram)."""
    content: dict[str, Any] = {"text": text}
    if entities := command_entities(text):
        content["entities"] = entities
    return sandbox.world.user_message(chat_id, content)


def _bot_messages(sandbox: Sandbox, chat_id: int) -> list[dict[str, Any]]:
    messages = sandbox.world.chat(chat_id).messages.values()
    return [m for m in messages if m["from"]["id"] == BOT_ID]


async def wait_for(
    sandbox: Sandbox,
    found: Callable[[], dict[str, Any] | None],
    what: str,
    timeout: float = PRESET_TIMEOUT,  # noqa: ASYNC109 - a deadline for a wait loop
) -> dict[str, Any]:
    """Wait until ``found()`` returns a message, waking on every sandbox change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (result := found()) is None:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise PresetError(f"the bot did not {what} within {timeout:.0f}s")
        await sandbox.notifier.wait(remaining)
    return result


def _newer_bot_message(sandbox: Sandbox, chat_id: int, after_id: int) -> dict[str, Any] | None:
    newer = [m for m in _bot_messages(sandbox, chat_id) if m["message_id"] > after_id]
    return newer[0] if newer else None


def _consent_button(message: dict[str, Any]) -> str | None:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    for row in rows:
        for button in row:
            data = button.get("callback_data") or ""
            if data.startswith("consent:yes:"):
                return str(data)
    return None


async def start_at(
    sandbox: Sandbox, chat_id: int, checkin_id: str | None, default: str | None
) -> None:
    """Consent through the real buttons, then ``/checkin ID`` unless consent already began it.

    ``default`` is the check-in consent starts by itself (the current stage's).
    """

    def consent_message() -> dict[str, Any] | None:
        return next((m for m in _bot_messages(sandbox, chat_id) if _consent_button(m)), None)

    send_text(sandbox, chat_id, "/start")
    message = await wait_for(sandbox, consent_message, "ask for consent")
    data = _consent_button(message)
    assert data is not None
    sandbox.world.press(chat_id, message["message_id"], data)
    first = await wait_for(
        sandbox,
        lambda: _newer_bot_message(sandbox, chat_id, message["message_id"]),
        "start a check-in after consent",
    )
    if checkin_id is None or checkin_id == default:
        return
    send_text(sandbox, chat_id, f"/checkin {checkin_id}")
    await wait_for(
        sandbox,
        lambda: _newer_bot_message(sandbox, chat_id, first["message_id"]),
        f"start check-in {checkin_id}",
    )
