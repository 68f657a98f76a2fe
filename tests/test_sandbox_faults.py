"""Sandbox chaos: faults after delivery, 429 storms, raw updates, getUpdates confirmations and
hostile files, each over the real HTTP server."""

from __future__ import annotations

import asyncio
import time
from io import BytesIO
from typing import Any

import httpx
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, ContextTypes, MessageHandler, filters

from bot.sandbox import Sandbox, SandboxClient, SandboxError, spec_available
from bot.sandbox import errors as tg
from bot.sandbox.__main__ import build_sandbox, parse_args
from bot.sandbox.faults import FaultInjector, Faults, ServerFault
from bot.sandbox.limits import RateLimiter, RateLimits
from bot.sandbox.params import Params
from bot.sandbox.spec import load_spec
from bot.sandbox.state import UPDATE_KINDS, World
from bot.sandbox.testing import TEST_TOKEN, application_builder, polling

needs_spec = pytest.mark.skipif(not spec_available(), reason="Bot API spec is absent")
MB = 1024 * 1024


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def started_users(sandbox: Sandbox, *user_ids: int) -> None:
    """Users who pressed Start, so the bot may write to them."""
    for user_id in user_ids:
        sandbox.world.ensure_user(user_id, f"User {user_id}").started = True


async def bot_api(
    http: httpx.AsyncClient, sandbox: Sandbox, method: str, **data: Any
) -> httpx.Response:
    return await http.post(f"{sandbox.url}/bot{TEST_TOKEN}/{method}", data=data)


def texts(sandbox: Sandbox, chat_id: int) -> list[str]:
    return [m.get("text", "") for m in sandbox.world.chats[chat_id].messages.values()]


# -- faults after delivery ---------------------------------------------------------------------


async def test_after_error_delivers_then_answers_5xx(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 601)
    config = await client.set_after_faults(error_rate=1.0, seed=4)
    assert config["config"]["after_error_rate"] == 1.0 and config["config"]["error_rate"] == 0
    async with httpx.AsyncClient() as http:
        answers = [
            await bot_api(http, sandbox, "sendMessage", chat_id=601, text="nudge") for _ in range(6)
        ]
        polled = await bot_api(http, sandbox, "getUpdates", timeout=0)  # spared by default
    assert {a.status_code for a in answers} == {500, 502}
    assert next(a for a in answers if a.status_code == 500).json() == {
        "ok": False,
        "error_code": 500,
        "description": "Internal Server Error",
    }
    assert "502 Bad Gateway" in next(a for a in answers if a.status_code == 502).text
    assert polled.status_code == 200
    assert texts(sandbox, 601) == ["nudge"] * 6  # every one of them was delivered
    events = await client.call("GET", "/chats/601/events")
    assert [e["kind"] for e in events["events"]] == ["message"] * 6

    logged = [r for r in sandbox.requests if r["method"] == "sendMessage"]
    assert all(r["delivered"] and r["ok"] is False for r in logged)
    assert {r["error_code"] for r in logged} == {500, 502}
    assert {r["after_fault"] for r in logged} == {"error"}
    assert "delivered" not in next(r for r in sandbox.requests if r["method"] == "getUpdates")

    stats = (await client.faults())["stats"]
    assert stats["errors"] == 0 and stats["eligible"] == 6  # nothing failed before
    assert stats["after"]["errors"] == 6 and stats["delivered_then_failed"] == 6
    assert sum(stats["after"]["errors_by_code"].values()) == 6
    assert stats["by_method"]["sendMessage"]["delivered_then_failed"] == 6
    delivery = await client.stats()
    assert delivery["messages_by_chat"] == {"601": 6}
    assert delivery["unacknowledged_by_chat"] == {"601": 6}
    assert delivery["repeats_by_chat"] == {"601": {"nudge": 6}}
    assert (await client.chat(601))["bot_message_count"] == 6


async def test_after_drop_delivers_then_closes_the_connection(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 602)
    await client.set_after_faults(drop_rate=1.0)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await bot_api(http, sandbox, "sendMessage", chat_id=602, text="hello")
        # A failed call has no effect to deliver, so it is answered as usual.
        missing = await bot_api(http, sandbox, "sendMessage", chat_id=99999, text="x")
        assert missing.json()["description"] == tg.CHAT_NOT_FOUND
    assert texts(sandbox, 602) == ["hello"]
    [entry] = [r for r in sandbox.requests if r.get("delivered")]
    assert entry["ok"] is False and entry["dropped"] and entry["after_fault"] == "drop"
    stats = (await client.faults())["stats"]
    assert stats["after"]["dropped"] == 1 and stats["after"]["eligible"] == 1
    assert stats["delivered_then_failed"] == 1


async def test_late_answer_beyond_the_read_timeout(sandbox: Sandbox, client: SandboxClient) -> None:
    started_users(sandbox, 603)
    user = await client.user(603)
    await client.set_after_faults(latency=0.5)
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.1)) as impatient:
        began = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await bot_api(impatient, sandbox, "sendMessage", chat_id=603, text="slow")
        assert time.perf_counter() - began < 0.4
    # Delivered at once; the log shows it, the answer is still being held back.
    assert texts(sandbox, 603) == ["slow"]
    assert (await user.wait_for_bot_message(timeout=0.1)).text == "slow"
    [entry] = [r for r in sandbox.requests if r["method"] == "sendMessage"]
    assert entry["delivered"] and entry["ok"] and entry["late"] == 0.5
    assert "abandoned" not in entry
    for _ in range(300):  # the answer goes out 0.5 s after delivery, to nobody
        if "abandoned" in entry:
            break
        await asyncio.sleep(0.01)
    assert entry["abandoned"] is True
    async with httpx.AsyncClient(timeout=5.0) as patient:
        began = time.perf_counter()
        answer = await bot_api(patient, sandbox, "sendMessage", chat_id=603, text="waited")
        assert answer.json()["ok"] and time.perf_counter() - began >= 0.5
    assert sandbox.requests[-1]["abandoned"] is False
    stats = (await client.faults())["stats"]
    assert stats["after"]["late"] == 2 and stats["after"]["late_abandoned"] == 1
    assert 0.99 <= stats["after"]["late_total"] <= 1.01
    assert stats["delivered_then_failed"] == 1
    assert (await client.stats())["unacknowledged_by_chat"] == {"603": 1}


async def test_late_answer_rate_and_range(sandbox: Sandbox, client: SandboxClient) -> None:
    started_users(sandbox, 604)
    await client.set_after_faults(latency=[0.01, 0.02], latency_rate=0.5, seed=11)
    async with httpx.AsyncClient() as http:
        for i in range(20):
            assert (
                await bot_api(http, sandbox, "sendMessage", chat_id=604, text=f"{i}")
            ).is_success
    late = [r["late"] for r in sandbox.requests if r.get("late")]
    assert 3 <= len(late) <= 17 and all(0.01 <= t <= 0.02 for t in late)
    assert (await client.faults())["stats"]["delivered_then_failed"] == 0  # all waited for


async def test_ptb_sees_delivered_then_failed_as_network_errors(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 605)
    user = await client.user(605)
    application = application_builder(sandbox).read_timeout(0.2).build()
    async with application:
        bot = application.bot
        await client.set_after_faults(error_rate=1.0, error_codes=[502], methods=["sendMessage"])
        with pytest.raises(NetworkError):
            await bot.send_message(605, "Your weekly check-in")
        await client.set_after_faults(latency=0.4, methods=["sendMessage"])
        with pytest.raises(TimedOut):
            await bot.send_message(605, "Your weekly check-in")
        await client.set_faults(enabled=False)
        await bot.send_message(605, "Your weekly check-in")  # a blind retry: a third copy

        # A callback answer is recorded before the failure: the retry is "too old".
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
        await bot.send_message(605, "Press", reply_markup=markup)
        query_id = await user.press("Go")
        await client.set_after_faults(drop_rate=1.0, methods=["answerCallbackQuery"])
        with pytest.raises(NetworkError):
            await bot.answer_callback_query(query_id, "Noted")
        assert (await user.callback_answer(query_id))["text"] == "Noted"
        await client.set_faults(enabled=False)
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query_id, "Noted")
    stats = await client.stats()
    assert stats["repeats_by_chat"] == {"605": {"Your weekly check-in": 3}}
    assert stats["messages_by_chat"] == {"605": 4}
    assert (await client.chat(605))["bot_message_count"] == 4
    by_method = stats["faults"]["stats"]["by_method"]
    assert by_method["answerCallbackQuery"]["delivered_then_failed"] == 1


async def test_after_faults_can_lose_get_updates_answers(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    user = await client.user(606)
    await user.send("/start")
    await client.set_after_faults(drop_rate=1.0, include_get_updates=True)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await bot_api(http, sandbox, "getUpdates", timeout=0)
        record = await client.updates()
        assert record["pending"] == [1] and record["in_flight"] == [1]
        await client.set_faults(enabled=False)
        again = (await bot_api(http, sandbox, "getUpdates", timeout=0)).json()["result"]
        assert [u["update_id"] for u in again] == [1]  # not confirmed: it comes again


def test_after_faults_are_seeded_and_leave_before_faults_alone() -> None:
    async def run(faults: Faults, with_after: bool) -> list[str]:
        injector = FaultInjector(faults)
        seen = []
        for _ in range(60):
            try:
                await injector("sendMessage", Params({}, {}))
                seen.append("ok")
            except ServerFault as exc:
                seen.append(str(exc.code))
            if with_after:
                after = injector.after("sendMessage")
                seen[-1] += f"/{after.kind if after else '-'}"
        return seen

    def outcomes(faults: Faults, with_after: bool = True) -> list[str]:
        return asyncio.run(run(faults, with_after))

    before = Faults(error_rate=0.3, seed=5)
    both = Faults(error_rate=0.3, after_error_rate=0.2, after_drop_rate=0.1, seed=5)
    plain = outcomes(before, with_after=False)
    mixed = outcomes(both)
    assert [o.split("/")[0] for o in mixed] == plain  # after-faults do not shift the others
    assert mixed == outcomes(both)
    assert mixed != outcomes(Faults.from_dict({"seed": 6}, both))
    assert {o.split("/")[1] for o in mixed} == {"-", "error", "drop"}
    assert FaultInjector(Faults(latency=0.1)).after("sendMessage") is None


def test_after_fault_settings_round_trip_and_command_line() -> None:
    faults = Faults.from_dict({"after_latency": [1, 2], "after_latency_rate": "0.5"})
    assert faults.after_latency_range == (1.0, 2.0) and faults.after_latency_rate == 0.5
    assert faults.to_dict()["after_error_rate"] == 0.0 and faults.acts_after
    assert not Faults(after_latency=1.0, after_latency_rate=0).acts_after
    for bad in (
        {"after_error_rate": 2},
        {"after_drop_rate": -0.1},
        {"after_latency": [2, 1]},
        {"after_latency_rate": 1.5},
    ):
        with pytest.raises(ValueError):
            Faults.from_dict(bad)
    argv = ["--after-error-rate", "0.1", "--after-drop-rate", "0.05"]
    argv += ["--after-latency", "5-30", "--after-latency-rate", "0.02", "--seed", "3"]
    sandbox = build_sandbox(parse_args(argv))
    assert sandbox.fault_injector.faults == Faults(
        after_error_rate=0.1,
        after_drop_rate=0.05,
        after_latency=[5.0, 30.0],
        after_latency_rate=0.02,
        seed=3,
    )
    assert build_sandbox(parse_args(["--after-latency", "2"])).fault_injector.faults == Faults(
        after_latency=2.0
    )


# -- 429 storms ----------------------------------------------------------------------------------


def test_storm_refuses_every_send_for_its_time_then_keeps_its_promise() -> None:
    clock = FakeClock()
    rates = RateLimiter(None, clock=clock)  # the limits themselves are off
    rates.start_storm(seconds=2, retry_after=3)
    assert rates.check("sendMessage", "5") == 3
    assert rates.check("editMessageText", "-100") == 3
    assert rates.check("getMe", None) is None and rates.check("answerCallbackQuery", "5") is None
    clock.advance(2.5)  # the storm is over, but the first 429 promised 3 s
    assert rates.check("sendMessage", "5") == 1
    clock.advance(0.5)  # a client that honoured its retry_after is let through
    assert rates.check("sendMessage", "5") is None
    stats = rates.stats()
    assert stats["limited"] == 3 and stats["limited_by_scope"] == {"storm": 3}
    assert rates.to_dict()["storm"]["active"] is False
    assert rates.to_dict()["storm"]["limited"] == 2


def test_storm_by_calls_and_methods_over_the_limits() -> None:
    clock = FakeClock()
    rates = RateLimiter(RateLimits(enforce_retry_after=False), clock=clock)
    rates.start_storm(calls=2, retry_after=7, methods=["sendDocument"])
    assert rates.check("sendMessage", "5") is None  # not in the storm's methods
    assert [rates.check("sendDocument", "5") for _ in range(3)] == [7, 7, None]
    assert rates.to_dict()["storm"]["calls_left"] == 0
    rates.start_storm(retry_after=2)  # no end: until stopped
    clock.advance(100)
    assert rates.check("sendMessage", "6") == 2
    rates.stop_storm()
    assert rates.check("sendMessage", "6") is None and rates.to_dict()["storm"] is None
    with pytest.raises(ValueError):
        rates.start_storm(retry_after=0)
    with pytest.raises(ValueError):
        rates.start_storm(calls=0)


async def test_storm_over_http(sandbox: Sandbox, client: SandboxClient) -> None:
    started_users(sandbox, 607)
    view = await client.start_storm(calls=3, retry_after=2, enforce_retry_after=False)
    assert view["enabled"] is False and view["storm"]["active"] and view["storm"]["calls_left"] == 3
    assert (await client.info())["storm"] is True
    async with httpx.AsyncClient() as http:
        answers = [
            await bot_api(http, sandbox, "sendMessage", chat_id=607, text=f"{i}") for i in range(4)
        ]
        assert (await bot_api(http, sandbox, "getMe")).is_success
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert answers[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    assert texts(sandbox, 607) == ["3"]
    limits = await client.limits()
    assert limits["stats"]["limited_by_scope"] == {"storm": 3}
    assert limits["storm"]["active"] is False and (await client.info())["storm"] is False
    assert (await client.stop_storm())["storm"] is None
    assert (await client.info())["storm"] is False
    for bad in ({"retry_after": 0}, {"seconds": -1}, {"calls": "many"}, {"methods": "sendMessage"}):
        with pytest.raises(SandboxError):
            await client.call("POST", "/limits/storm", bad)
    with pytest.raises(SandboxError, match="unknown"):
        await client.call("POST", "/limits/storm", {"minutes": 1})


async def test_ptb_rides_out_a_storm_delivering_once(
    sandbox: Sandbox, client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22.8 warns in RetryAfter() otherwise
    started_users(sandbox, 608, 609)
    await client.start_storm(calls=2, retry_after=1)
    paced = application_builder(sandbox).rate_limiter(AIORateLimiter(max_retries=2)).build()
    async with paced:
        await asyncio.gather(paced.bot.send_message(608, "a"), paced.bot.send_message(609, "b"))
    stats = await client.stats()
    assert stats["messages_by_chat"] == {"608": 1, "609": 1}
    assert stats["limits"]["stats"]["limited"] == 2
    await client.start_storm(seconds=5, retry_after=4)
    unpaced = application_builder(sandbox).build()
    async with unpaced:
        with pytest.raises(RetryAfter):
            await unpaced.bot.send_message(608, "too soon")


# -- raw updates -----------------------------------------------------------------------------------


MALFORMED = [
    {"message": {"message_id": 1, "chat": {"id": 610, "type": "private"}, "text": "no date"}},
    {
        "message": {
            "message_id": 2,
            "date": 0,
            "chat": {"id": 610, "type": "private"},
            "text": "hi",
            "entities": "bold",
        }
    },
    {"poll": {"id": "p", "question": "?", "options": [{"text": "a", "voter_count": 0}]}},
    {"poll_answer": {"poll_id": "p", "user": {"id": 610}, "option_ids": [0]}},
    {"future_update_kind": {"anything": [1, 2, 3]}},
    {"message": None, "edited_message": 42},
]


async def test_raw_updates_are_queued_as_is(sandbox: Sandbox, client: SandboxClient) -> None:
    ids = [await client.inject_update(update) for update in MALFORMED]
    assert ids == [1, 2, 3, 4, 5, 6]
    assert await client.inject_update({"update_id": 50, "callback_query": "garbage"}) == 50
    user = await client.user(610)
    await user.send("after")  # ordinary updates continue above an injected id
    async with httpx.AsyncClient() as http:
        result = (await bot_api(http, sandbox, "getUpdates", timeout=0)).json()["result"]
    assert result[:6] == [{"update_id": i + 1, **u} for i, u in enumerate(MALFORMED)]
    assert result[6] == {"update_id": 50, "callback_query": "garbage"}
    assert result[7]["update_id"] == 51 and result[7]["message"]["text"] == "after"
    with pytest.raises(SandboxError, match="JSON object"):
        await client.call("POST", "/updates/raw", {"update": [1, 2]})


async def test_raw_updates_respect_allowed_updates_for_known_kinds(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    async with httpx.AsyncClient() as http:
        await bot_api(http, sandbox, "getUpdates", timeout=0, allowed_updates='["message"]')
        assert await client.inject_update({"callback_query": {"id": "1"}}) is None
        assert await client.inject_update({"chat_member": {}}) is None
        assert await client.inject_update({"brand_new_kind": {}}) == 1  # unknown: queued
        assert await client.inject_update({"message": {}, "callback_query": {}}) == 2
        await bot_api(http, sandbox, "getUpdates", timeout=0, allowed_updates="[]")
        assert await client.inject_update({"chat_member": {}}) is None  # opt-in by default
        assert await client.inject_update({"callback_query": {}}) == 3
        assert (await client.updates())["pending"] == [1, 2, 3]


async def test_raw_update_ids_out_of_order_or_not_integers(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    for update in ({"update_id": 10, "a": 1}, {"update_id": 4, "b": 1}, {"update_id": "x"}):
        await client.inject_update(update)
    await client.inject_update({"c": 1})  # continues after the highest id seen
    async with httpx.AsyncClient() as http:
        first = (await bot_api(http, sandbox, "getUpdates", timeout=0)).json()["result"]
        assert [u["update_id"] for u in first] == [10, 4, "x", 11]
        rest = (await bot_api(http, sandbox, "getUpdates", timeout=0, offset=11)).json()
    # Ids below 11 are confirmed wherever they sit; "x" was handed out, so it goes too.
    assert [u["update_id"] for u in rest["result"]] == [11]
    record = await client.updates()
    assert record["confirmed"] == [10, 4, "x"] and record["pending"] == [11]


def test_update_kinds_follow_the_spec() -> None:
    spec = load_spec()
    if spec is None:
        pytest.skip("Bot API spec is absent")
    fields = {f["name"] for f in spec.types["Update"]["fields"]} - {"update_id"}
    assert fields == UPDATE_KINDS


# -- confirmations -------------------------------------------------------------------------------


async def test_confirmations_are_recorded(sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(611)
    for text in ("one", "two", "three"):
        await user.send(text)
    async with httpx.AsyncClient() as http:
        await bot_api(http, sandbox, "getUpdates", timeout=0, limit=2)
        record = await client.updates()
        assert record["pending"] == [1, 2, 3] and record["in_flight"] == [1, 2]
        assert record["confirmed"] == [] and record["get_updates_calls"] == 1
        before = time.time()
        await bot_api(http, sandbox, "getUpdates", timeout=0, offset=3)
        record = await client.updates()
        assert record["confirmed"] == [1, 2] and record["pending"] == [3]
        assert record["in_flight"] == [3] and record["confirmed_count"] == 2
        assert all(before <= c["at"] <= time.time() for c in record["confirmations"])
        await bot_api(http, sandbox, "getUpdates", timeout=0, offset=4)
        await bot_api(http, sandbox, "getUpdates", timeout=0, offset=4)
        record = await client.updates()
        assert record["confirmed"] == [1, 2, 3] and record["pending"] == []
        assert record["get_updates_calls"] == 4 and record["get_updates_empty"] == 2

        for text in ("four", "five", "six"):
            await user.send(text)
        await bot_api(http, sandbox, "getUpdates", timeout=0, offset=-1)  # keep the last one
        await bot_api(http, sandbox, "deleteWebhook", drop_pending_updates="true")
    record = await client.updates()
    assert record["forgotten"] == [4, 5, 6] and record["confirmed"] == [1, 2, 3]
    await client.reset_updates()
    record = await client.updates()
    assert record["confirmed"] == [] and record["forgotten"] == []
    assert record["get_updates_calls"] == 0


async def test_polling_bot_confirms_what_it_handled(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    handled: list[int] = []

    async def remember(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        handled.append(update.update_id)

    application = application_builder(sandbox).build()
    application.add_handler(MessageHandler(filters.TEXT, remember))
    async with polling(application, poll_timeout=1):
        user = await client.user(612)
        for text in ("a", "b", "c"):
            await user.send(text)
        for _ in range(250):  # PTB confirms a batch with its next poll
            if (await client.updates())["confirmed"] == [1, 2, 3]:
                break
            await asyncio.sleep(0.02)
    record = await client.updates()
    assert record["confirmed"] == [1, 2, 3] and set(record["confirmed"]) <= set(handled)
    assert record["get_updates_calls"] >= 2


# -- declared sizes and odd file paths ---------------------------------------------------------


async def test_declared_size_over_20_mb_is_refused_by_get_file(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    user = await client.user(613)
    await user.send("/start")
    huge = await user.send_voice(b"OggS tiny", duration=600, file_size=105 * MB)
    assert huge.raw["voice"]["file_size"] == 105 * MB
    assert await client.download(huge.raw["voice"]["file_id"]) == b"OggS tiny"
    modest = await user.send_voice(b"OggS", file_size=5 * MB)
    audio = await user.send_audio(b"ID3", title="Song", file_size=30 * MB)
    assert audio.raw["audio"]["file_size"] == 30 * MB and audio.raw["audio"]["title"] == "Song"
    document = await user.send_document(b"%PDF", "scan.pdf", file_size=21 * MB)
    assert document.raw["document"]["file_size"] == 21 * MB
    application = application_builder(sandbox).build()
    async with application:
        bot = application.bot
        for message, kind in ((huge, "voice"), (audio, "audio"), (document, "document")):
            with pytest.raises(BadRequest, match="File is too big"):
                await bot.get_file(message.raw[kind]["file_id"])
        file = await bot.get_file(modest.raw["voice"]["file_id"])
        assert file.file_size == 5 * MB
        assert bytes(await file.download_as_bytearray()) == b"OggS"
    assert sandbox.requests[-2]["description"] == "Bad Request: file is too big"


async def test_odd_file_paths_download(sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(614)
    long_suffix = "." + "x" * 300
    long = await user.send_voice(b"OggS long", suffix=long_suffix)
    bare = await user.send_voice(b"OggS bare", suffix="")
    custom = await user.send_document(b"doc", "a.txt", file_path="documents/odd name é.txt")
    audio = await user.send_audio(b"ID3", file_name="song.mp3")
    application = application_builder(sandbox).build()
    async with application:
        bot = application.bot
        paths = []
        for message, kind, data in (
            (long, "voice", b"OggS long"),
            (bare, "voice", b"OggS bare"),
            (custom, "document", b"doc"),
            (audio, "audio", b"ID3"),
        ):
            file = await bot.get_file(message.raw[kind]["file_id"])
            buffer = BytesIO()
            await file.download_to_memory(out=buffer)
            assert buffer.getvalue() == data
            assert file.file_path
            paths.append(file.file_path.removeprefix(f"{sandbox.url}/file/bot{TEST_TOKEN}/"))
    assert paths[0].startswith("voice/file_") and paths[0].endswith(long_suffix)
    assert paths[1].startswith("voice/file_") and "." not in paths[1]
    assert paths[2] == "documents/odd name é.txt"
    assert paths[3].startswith("music/file_") and paths[3].endswith(".mp3")
    with pytest.raises(SandboxError, match="taken"):
        await user.send_voice(b"again", file_path="documents/odd name é.txt")
    with pytest.raises(SandboxError, match="file_size"):
        await user.send_voice(b"x", file_size=-1)


@needs_spec
async def test_new_participant_files_conform_to_spec(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    spec = load_spec()
    assert spec is not None
    user = await client.user(615)
    await user.send_audio(b"ID3", title="t", performer="p", file_name="a.mp3", caption="c")
    await user.send_document(b"doc", "a.txt", caption="c", file_size=3 * MB)
    await user.send_voice(b"OggS", file_size=105 * MB, suffix="")
    async with httpx.AsyncClient() as http:
        updates = (await bot_api(http, sandbox, "getUpdates", timeout=0)).json()["result"]
    assert len(updates) == 3
    assert [p for u in updates for p in spec.check_object(u, "Update")] == []


def test_world_injects_without_http() -> None:
    world = World()
    assert world.inject_update({"message": {"text": "x"}}) == (True, 1)
    assert world.get_updates(None, 100, None) == [{"update_id": 1, "message": {"text": "x"}}]
    world.get_updates(2, 100, None)
    assert world.update_record()["confirmed"] == [1]
