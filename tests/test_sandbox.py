"""The Bot API sandbox, driven end to end by a real python-telegram-bot Application over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.sandbox import Sandbox, SandboxClient, SandboxError, spec_available
from bot.sandbox import errors as tg
from bot.sandbox.errors import ApiError
from bot.sandbox.errors import ControlError as SandboxControlError
from bot.sandbox.formatting import parse_html
from bot.sandbox.params import Params
from bot.sandbox.spec import load_spec
from bot.sandbox.state import World
from bot.sandbox.testing import TEST_TOKEN, application_builder, polling

needs_spec = pytest.mark.skipif(
    not spec_available(),
    reason="Bot API spec (shared/telegram-bot-api/api.json or $EVERYSTAGE_BOTAPI_SPEC) is absent",
)


REPO_ROOT = Path(__file__).resolve().parents[1]


def ptb_message(description: str) -> str:
    """What PTB turns a Telegram description into (prefix stripped, then str.capitalize)."""
    stripped = description.removeprefix("Bad Request: ")
    return stripped.capitalize() if stripped != description else description


# -- a small bot, defined here, polling the sandbox -------------------------------------------


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message and update.effective_user
    payload = " ".join(context.args or []) or "-"
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="c:yes"),
                InlineKeyboardButton("No", callback_data="c:no"),
            ]
        ]
    )
    await update.effective_message.reply_text(
        f"Welcome <b>{update.effective_user.first_name}</b>! payload={payload}",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
    )


async def on_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query and query.data
    await query.answer("Noted")
    await query.edit_message_text(f"You chose {query.data.split(':')[1]}")


async def on_voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message and update.message.voice
    file = await update.message.voice.get_file()
    buffer = BytesIO()
    await file.download_to_memory(out=buffer)
    context.bot_data.setdefault("voices", []).append(buffer.getvalue())
    await update.message.reply_text(f"Got {len(buffer.getvalue())} bytes")


async def on_edit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.edited_message
    await update.edited_message.reply_text(f"Edited to: {update.edited_message.text}")


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message
    await update.effective_message.reply_text(f"Group heard: {update.effective_message.text}")


async def on_my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.my_chat_member
    status = update.my_chat_member.new_chat_member.status
    context.bot_data.setdefault("membership", []).append((update.my_chat_member.chat.id, status))


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(sandbox.url) as sandbox_client:
        yield sandbox_client


@pytest.fixture
async def app(sandbox: Sandbox) -> AsyncIterator[Application]:
    application = application_builder(sandbox).build()
    application.add_handler(CommandHandler("start", on_start))
    application.add_handler(CallbackQueryHandler(on_choice, pattern=r"^c:"))
    application.add_handler(MessageHandler(filters.VOICE, on_voice))
    application.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edit))
    application.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.TEXT, on_group_text))
    application.add_handler(ChatMemberHandler(on_my_chat_member))
    async with polling(application):
        yield application
    # Every request the bot made conformed to the spec.
    assert sandbox.violations == []


async def bot_api(sandbox: Sandbox, method: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{sandbox.url}/bot{TEST_TOKEN}/{method}", **kwargs)


# -- getUpdates ------------------------------------------------------------------------------


async def test_get_updates_offset_and_long_poll(sandbox: Sandbox, client: SandboxClient) -> None:
    empty = await bot_api(sandbox, "getUpdates", data={"timeout": "0"})
    assert empty.json() == {"ok": True, "result": []}

    user = await client.user(11, "Ada")
    await user.send("/start")
    await user.send("hello")
    first = (await bot_api(sandbox, "getUpdates", data={"limit": "1"})).json()["result"]
    assert [u["update_id"] for u in first] == [1]
    assert first[0]["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]

    # offset confirms update 1; the long-poll returns update 2 at once.
    both = (await bot_api(sandbox, "getUpdates", data={"offset": "2", "timeout": "5"})).json()
    assert [u["update_id"] for u in both["result"]] == [2]

    # Nothing pending: the long-poll waits, and returns as soon as a message arrives.
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot_api(sandbox, "getUpdates", data={"offset": "3", "timeout": "5"}))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await user.send("later")
    later = (await poll).json()["result"]
    assert [u["message"]["text"] for u in later] == ["later"]
    assert loop.time() - started < 2

    # Message ids count per chat; update ids are global.
    assert [u["message"]["message_id"] for u in later] == [3]
    assert (await bot_api(sandbox, "getUpdates", data={"offset": "4"})).json()["result"] == []
    info = (await bot_api(sandbox, "getWebhookInfo")).json()["result"]
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}


async def test_long_poll_ends_promptly_when_sandbox_stops() -> None:
    sandbox = Sandbox()
    await sandbox.start()
    arrived = asyncio.Event()

    async def note_poll(method: str, params: object) -> None:
        if method == "getUpdates":
            arrived.set()

    sandbox.hooks.append(note_poll)
    poll = asyncio.create_task(bot_api(sandbox, "getUpdates", data={"timeout": "30"}))
    await asyncio.wait_for(arrived.wait(), 5)  # the long poll is really waiting now
    await asyncio.sleep(0.01)
    await asyncio.wait_for(sandbox.stop(), 3)
    response = await asyncio.wait_for(poll, 3)
    assert response.json() == {"ok": True, "result": []}


# -- a real PTB bot --------------------------------------------------------------------------


async def test_start_reply(app: Application, client: SandboxClient) -> None:
    user = await client.user(101, "Sam", language_code="en")
    await user.send("/start join-abc")
    reply = await user.wait_for_bot_message(timeout=5)
    assert reply.text == "Welcome Sam! payload=join-abc"
    assert reply.from_bot and reply.message_id == 2
    assert reply.raw["entities"] == [{"type": "bold", "offset": 8, "length": 3}]
    assert reply.button_texts() == ["Yes", "No"]
    assert (await user.last_bot_message()) == reply


async def test_button_press_is_answered_and_edits_in_place(
    app: Application, client: SandboxClient
) -> None:
    user = await client.user(102)
    await user.send("/start")
    menu = await user.expect("Welcome")
    query_id = await user.press("No")
    edited = await user.expect("You chose no")
    assert edited.message_id == menu.message_id
    assert edited.edited and edited.buttons == []  # no reply_markup on edit removes the keyboard
    answer = await user.wait_callback_answer(query_id)
    assert answer["answered"] and answer["text"] == "Noted" and not answer["show_alert"]
    assert [m.text for m in await user.messages()] == ["/start", "You chose no"]

    # A second answer to the same query is refused like Telegram does.
    with pytest.raises(BadRequest) as excinfo:
        await app.bot.answer_callback_query(query_id)
    assert excinfo.value.message == ptb_message(tg.QUERY_TOO_OLD)

    # Pressing a button that is not on the message is refused by the sandbox.
    with pytest.raises(SandboxError, match="no button"):
        await client.call(
            "POST",
            f"/chats/{user.chat_id}/messages/{menu.message_id}/press",
            {"callback_data": "c:yes"},
        )
    with pytest.raises(AssertionError, match="no callback button"):
        await user.press("Maybe", message_id=menu.message_id)


async def test_voice_note_round_trip(app: Application, client: SandboxClient) -> None:
    user = await client.user(103)
    audio = bytes(range(256)) * 40
    sent = await user.send_voice(audio, duration=4)
    assert sent.raw["voice"]["mime_type"] == "audio/ogg"
    assert sent.raw["voice"]["duration"] == 4
    await user.expect(f"Got {len(audio)} bytes")
    assert app.bot_data["voices"] == [audio]
    assert await client.download(sent.raw["voice"]["file_id"]) == audio


async def test_send_document_is_downloadable(app: Application, client: SandboxClient) -> None:
    user = await client.user(104)
    await user.send("/start")
    await user.expect("Welcome")
    content = b"name,answer\nAda,yes\n"
    message = await app.bot.send_document(
        user.chat_id, document=content, filename="answers.csv", caption="Export"
    )
    assert message.document and message.document.file_name == "answers.csv"
    assert message.document.file_size == len(content)
    assert await client.download(message.document.file_id) == content

    shown = await user.last_bot_message()
    assert shown and shown.document and shown.document["file_name"] == "answers.csv"
    assert shown.text == "Export"

    # Re-sending by file_id works; bot-side download gives the same bytes.
    again = await app.bot.send_document(user.chat_id, document=message.document.file_id)
    assert again.document and again.document.file_unique_id == message.document.file_unique_id
    file = await app.bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content


async def test_user_edit_and_group_messages(app: Application, client: SandboxClient) -> None:
    user = await client.user(105, "Kim")
    sent = await user.send("I am feeling fine")
    await user.edit(sent.message_id, "I am feeling great")
    await user.expect("Edited to: I am feeling great")

    group = await client.group(-100200, "Steering group", added_by=105)
    await group.send(105, "chatter the bot must not see")  # privacy mode
    await group.send(105, "/start")
    reply = await group.expect("Welcome Kim")
    assert reply.raw["chat"] == {"id": -100200, "type": "group", "title": "Steering group"}
    await group.send(105, "hi @everystage_bot")
    await group.expect("Group heard: hi @everystage_bot")
    assert app.bot_data["membership"] == [(-100200, "member")]
    assert (
        next(m.text for m in await group.messages() if not m.from_bot)
        == "chatter the bot must not see"
    )


# -- Telegram's errors, surfacing in PTB -------------------------------------------------------


async def test_telegram_errors(app: Application, sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(106)
    await user.send("/start")
    menu = await user.expect("Welcome")
    bot = app.bot

    async def bad(call: Any, description: str) -> None:
        with pytest.raises(BadRequest) as excinfo:
            await call
        assert excinfo.value.message == ptb_message(description)
        assert sandbox.requests[-1]["description"] == description

    await bad(bot.send_message(user.chat_id, ""), tg.MESSAGE_TEXT_EMPTY)
    await bad(bot.send_message(user.chat_id, "x" * 4097), tg.MESSAGE_TOO_LONG)
    await bot.send_message(user.chat_id, "x" * 4096)
    long_data = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="é" * 33)]])
    await bad(bot.send_message(user.chat_id, "hi", reply_markup=long_data), tg.BUTTON_DATA_INVALID)
    await bad(bot.edit_message_text("You chose", user.chat_id, 999), tg.MESSAGE_TO_EDIT_NOT_FOUND)
    same_markup = InlineKeyboardMarkup.de_json(menu.raw["reply_markup"], bot)
    await bad(_edit_same(bot, user.chat_id, menu.raw, same_markup), tg.MESSAGE_NOT_MODIFIED)
    await bad(bot.send_message(424242, "hi"), tg.CHAT_NOT_FOUND)
    await bad(bot.answer_callback_query("1234567"), tg.QUERY_TOO_OLD)
    await bad(bot.delete_message(user.chat_id, 999), tg.MESSAGE_TO_DELETE_NOT_FOUND)
    if sandbox.validating:  # without the spec, getChat is simply an unknown method
        await bad(bot.get_chat(user.chat_id), tg.UNSUPPORTED_METHOD)
        assert [c["method"] for c in sandbox.unsupported_calls] == ["getChat"]

    stranger = await client.user(107)  # known to the sandbox, never pressed Start
    with pytest.raises(Forbidden) as excinfo:
        await bot.send_message(stranger.chat_id, "hi")
    assert excinfo.value.message == tg.CANT_INITIATE

    await user.block()
    with pytest.raises(Forbidden) as excinfo:
        await bot.send_message(user.chat_id, "hi")
    assert excinfo.value.message == tg.BOT_BLOCKED
    await user.unblock()
    await bot.send_message(user.chat_id, "welcome back")


async def _edit_same(
    bot: Any, chat_id: int, raw: dict[str, Any], markup: InlineKeyboardMarkup
) -> Any:
    # Re-send exactly the current text, entities and keyboard.
    entities = [MessageEntity.de_json(e, bot) for e in raw.get("entities", [])]
    return await bot.edit_message_text(
        raw["text"], chat_id, raw["message_id"], entities=entities, reply_markup=markup
    )


async def test_expired_callback_query(sandbox: Sandbox, client: SandboxClient) -> None:
    sandbox.world.callback_query_ttl = 0.01
    application = application_builder(sandbox).build()
    async with application:  # not polling: nobody answers in time
        user = await client.user(108)
        await user.send("/start")
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
        await application.bot.send_message(user.chat_id, "Press", reply_markup=markup)
        query_id = await user.press("Go")
        await asyncio.sleep(0.03)
        with pytest.raises(BadRequest) as excinfo:
            await application.bot.answer_callback_query(query_id)
        assert excinfo.value.message == ptb_message(tg.QUERY_TOO_OLD)
        assert (await user.callback_answer(query_id))["answered"] is False


async def test_hook_slot_for_rate_limits(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22.8 warns inside RetryAfter() unless timedelta mode is on (warnings are errors here).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")

    async def limit(method: str, params: Params) -> None:
        if method == "sendMessage":
            raise ApiError(429, "Too Many Requests: retry after 3", {"retry_after": 3})

    sandbox.hooks.append(limit)
    application = application_builder(sandbox).build()
    async with application:
        with pytest.raises(RetryAfter) as excinfo:
            await application.bot.send_message(1, "hi")
    assert excinfo.value.retry_after == dt.timedelta(seconds=3)
    assert sandbox.requests[-1]["error_code"] == 429


async def test_tokens_and_unknown_methods() -> None:
    async with Sandbox(token="123:only-this-token") as sandbox, httpx.AsyncClient() as http:
        ok = await http.post(f"{sandbox.url}/bot123:only-this-token/getMe")
        assert ok.json()["result"]["username"] == "everystage_bot"
        wrong = await http.post(f"{sandbox.url}/bot123:another-token/getMe")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        unknown = await http.post(f"{sandbox.url}/bot123:only-this-token/sendTelegram")
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


# -- spec validation -------------------------------------------------------------------------


@needs_spec
async def test_spec_validation_flags_bad_requests(sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(109)
    await user.send("/start")

    unknown = await bot_api(
        sandbox, "sendMessage", data={"chat_id": "109", "text": "hi", "colour": "red"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["description"] == "Bad Request: unknown parameter 'colour'"

    missing = await bot_api(sandbox, "sendMessage", data={"chat_id": "109"})
    assert missing.json()["description"] == "Bad Request: required parameter 'text' is missing"

    button = {"text": "Go", "callback_data": "go", "colour": "red"}
    nested = await bot_api(
        sandbox,
        "sendMessage",
        json={"chat_id": 109, "text": "hi", "reply_markup": {"inline_keyboard": [[button]]}},
    )
    assert nested.status_code == 400
    assert (
        "inline_keyboard[0][0] has unknown field 'colour' for InlineKeyboardButton"
        in (nested.json()["description"])
    )

    wrong_type = await bot_api(
        sandbox,
        "sendMessage",
        data={"chat_id": "109", "text": "hi", "disable_notification": "maybe"},
    )
    assert "'disable_notification' must be Boolean" in wrong_type.json()["description"]

    assert await client.violations() == [
        "sendMessage: unknown parameter 'colour'",
        "sendMessage: required parameter 'text' is missing",
        "sendMessage: parameter 'reply_markup'.inline_keyboard[0][0] has unknown field 'colour' "
        "for InlineKeyboardButton",
        "sendMessage: parameter 'disable_notification' must be Boolean, got 'maybe'",
    ]
    assert [m.text for m in await user.messages()] == ["/start"]  # nothing was sent
    await client.reset_requests()
    assert await client.violations() == [] and await client.requests() == []


@needs_spec
async def test_sandbox_output_conforms_to_spec(sandbox: Sandbox, client: SandboxClient) -> None:
    spec = load_spec()
    assert spec is not None
    user = await client.user(110, "Lee", language_code="cy")
    await user.send("/start abc")
    await user.send_voice(b"OggS voice", duration=2)
    await user.send_sticker()
    await user.send_photo(caption="a picture")
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = await bot_api(
        sandbox,
        "sendMessage",
        json={
            "chat_id": 110,
            "text": "<i>Pick</i>",
            "parse_mode": "HTML",
            "reply_markup": keyboard,
        },
    )
    await user.press("A")
    await user.edit(1, "/start def")
    await client.group(-5, "Group", added_by=110)
    await user.block()
    updates = (await bot_api(sandbox, "getUpdates")).json()["result"]
    kinds = [next(k for k in u if k != "update_id") for u in updates]
    assert kinds == ["message"] * 4 + ["callback_query", "edited_message"] + ["my_chat_member"] * 2
    problems = [
        p for u in updates for p in spec.check_object(u, "Update", f"update {u['update_id']}")
    ]
    assert problems == []
    assert spec.check_object(sent.json()["result"], "Message") == []
    me = (await bot_api(sandbox, "getMe")).json()["result"]
    assert spec.check_object(me, "User") == []


async def test_runs_without_spec(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert not spec_available(missing)
    async with Sandbox(spec_path=missing) as sandbox, SandboxClient(sandbox.url) as client:
        assert not sandbox.validating
        user = await client.user(111)
        await user.send("/start")
        response = await bot_api(
            sandbox, "sendMessage", data={"chat_id": "111", "text": "hi", "colour": "red"}
        )
        assert response.json()["ok"] is True
        assert await client.violations() == []
        unknown = await bot_api(sandbox, "getChat", data={"chat_id": "111"})
        assert unknown.status_code == 404  # without the spec only implemented methods exist


# -- pieces ----------------------------------------------------------------------------------


def test_world_is_plain_python() -> None:
    now = [0.0]
    world = World(callback_query_ttl=15, clock=lambda: now[0])
    world.ensure_user(1, "Ada")
    world.user_message(1, {"text": "/start"})
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    sent = world.bot_send(world.bot_chat(1), {"text": "Hi", "reply_markup": keyboard})
    assert sent["message_id"] == 2  # user and bot messages share the chat's counter
    world.user_message(1, {"text": "three"})
    assert [u["update_id"] for u in world.get_updates(-1, 100, None)] == [2]  # keep the last one

    world.get_updates(None, 100, ["callback_query"])
    world.user_message(1, {"text": "not wanted"})  # never becomes an update
    query = world.press(1, 2, "a")
    pending = world.get_updates(3, 100, None)
    assert [sorted(u) for u in pending] == [["callback_query", "update_id"]]

    now[0] = 15.5
    with pytest.raises(ApiError, match="query is too old"):
        world.answer_callback(query.id, None, False, None)
    with pytest.raises(SandboxControlError, match="no button"):
        world.press(1, 2, "b")


def test_html_parse_mode() -> None:
    text, entities = parse_html(
        'Hi <b>bold <i>both</i></b> &amp; <a href="https://x.y">link</a> 👋<u>u</u>'
    )
    assert text == "Hi bold both & link 👋u"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 9},
        {"type": "italic", "offset": 8, "length": 4},
        {"type": "text_link", "url": "https://x.y", "offset": 15, "length": 4},
        {"type": "underline", "offset": 22, "length": 1},  # the emoji is 2 UTF-16 units
    ]
    with pytest.raises(ApiError, match="Can't find end tag"):
        parse_html("<b>open")
    with pytest.raises(ApiError, match='Unsupported start tag "blink"'):
        parse_html("<blink>x</blink>")


async def test_events_long_poll(sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(112)
    await user.send("/start")
    (sent,) = await user.wait_events(timeout=0)
    assert sent["kind"] == "message" and sent["message"]["text"] == "/start"

    waiter = asyncio.create_task(user.wait_events(after=sent["seq"], timeout=5))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await bot_api(sandbox, "sendChatAction", data={"chat_id": "112", "action": "typing"})
    events = await asyncio.wait_for(waiter, 2)
    assert [(e["kind"], e.get("action")) for e in events] == [("chat_action", "typing")]
    assert events[0]["seq"] > sent["seq"]

    with pytest.raises(AssertionError, match=r"never said 'nope'.*it said: \[\]"):
        await user.expect("nope", timeout=0.1)


async def test_command_line_entry_point() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.sandbox",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        url = line.split()[-1]
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{url}/sandbox/")).json()
        assert info["bot"]["id"] == 7000000001
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


def test_json_body_helper() -> None:
    params = Params({"reply_markup": json.dumps({"remove_keyboard": True}), "n": "5"}, {})
    assert params.get_json("reply_markup") == {"remove_keyboard": True}
    assert params.get_int("n") == 5


async def test_send_photo_returns_photo_sizes(sandbox: Sandbox, client: SandboxClient) -> None:
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
        + (640).to_bytes(4, "big")
        + (480).to_bytes(4, "big")
        + b"\x08\x02\x00\x00\x00"
    )
    user = await client.user(880)
    await user.send("/start")
    async with Bot(TEST_TOKEN, base_url=f"{sandbox.url}/bot") as bot:
        sent = await bot.send_photo(user.chat_id, InputFile(png, filename="c.png"), caption="chart")
    assert [(p.width, p.height) for p in sent.photo] == [(160, 120), (640, 480)]
    assert sent.caption == "chart"
    assert await client.download(sent.photo[-1].file_id) == png
