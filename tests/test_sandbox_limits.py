"""Sandbox rate limits (429 + retry_after), fault injection, account states and delivery stats."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from telegram.error import Forbidden, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

from bot.sandbox import Sandbox, SandboxClient, SandboxError
from bot.sandbox import errors as tg
from bot.sandbox.__main__ import build_sandbox, parse_args
from bot.sandbox.faults import FaultInjector, Faults, ServerFault
from bot.sandbox.limits import RateLimiter, RateLimits
from bot.sandbox.params import Params
from bot.sandbox.testing import TEST_TOKEN, application_builder


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(**settings: Any) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(RateLimits(**settings), clock=clock), clock


def started_users(sandbox: Sandbox, *user_ids: int) -> None:
    """Users who pressed Start, so the bot may write to them."""
    for user_id in user_ids:
        sandbox.world.ensure_user(user_id, f"User {user_id}").started = True


async def bot_api(
    http: httpx.AsyncClient, sandbox: Sandbox, method: str, **data: Any
) -> httpx.Response:
    return await http.post(f"{sandbox.url}/bot{TEST_TOKEN}/{method}", data=data)


# -- the limiter on its own, with a fake clock ------------------------------------------------


def test_overall_limit_is_30_per_second() -> None:
    rates, clock = limiter()
    assert all(rates.check("sendMessage", str(chat)) is None for chat in range(1, 31))
    assert rates.check("sendMessage", "31") == 1  # a slot frees in 1/30 s: retry after 1
    clock.advance(1.0)  # the 429 is a promise: nothing passes before retry_after
    assert all(rates.check("sendMessage", str(chat)) is None for chat in range(31, 61))
    assert rates.check("editMessageText", "61") == 1
    assert rates.stats()["allowed"] == 60
    assert rates.stats()["limited_by_scope"] == {"overall": 2}
    assert rates.stats()["by_method"]["editMessageText"] == {"allowed": 0, "limited": 1}


def test_overall_refills_steadily_without_the_flood_wait() -> None:
    rates, clock = limiter(enforce_retry_after=False)
    for chat in range(30):
        assert rates.check("sendMessage", str(chat)) is None
    assert rates.check("sendMessage", "99") == 1
    clock.advance(1 / 30 + 1e-6)
    assert rates.check("sendMessage", "99") is None
    assert rates.check("sendMessage", "98") == 1


def test_private_chat_allows_a_burst_then_one_per_second() -> None:
    rates, clock = limiter()
    assert [rates.check("sendMessage", "5") for _ in range(4)] == [None, None, None, 1]
    assert rates.check("sendMessage", "6") is None  # other chats are unaffected
    clock.advance(0.5)
    assert rates.check("sendMessage", "5") == 1  # still inside the flood wait
    clock.advance(0.5)
    assert rates.check("sendMessage", "5") is None
    assert rates.check("sendMessage", "5") == 1
    clock.advance(1.0)
    assert rates.check("editMessageReplyMarkup", "5") is None  # edits count too


def test_retry_after_is_rounded_up_from_when_a_slot_frees() -> None:
    rates, clock = limiter(private_burst=1, private_per_second=0.25)
    assert rates.check("sendMessage", "5") is None
    assert rates.check("sendMessage", "5") == 4
    clock.advance(2.5)
    assert rates.check("sendMessage", "5") == 2  # 1.5 s left of the flood wait
    clock.advance(1.5)
    assert rates.check("sendMessage", "5") is None


def test_flood_wait_can_be_switched_off() -> None:
    rates, clock = limiter(private_per_second=4)
    for _ in range(3):
        assert rates.check("sendMessage", "5") is None
    assert rates.check("sendMessage", "5") == 1
    clock.advance(0.5)
    assert rates.check("sendMessage", "5") == 1  # told to wait 1 s, so still refused
    lax, lax_clock = limiter(private_per_second=4, enforce_retry_after=False)
    for _ in range(3):
        assert lax.check("sendMessage", "5") is None
    assert lax.check("sendMessage", "5") == 1
    lax_clock.advance(0.5)
    assert lax.check("sendMessage", "5") is None


def test_groups_get_20_messages_per_minute() -> None:
    rates, clock = limiter()
    for _ in range(20):
        assert rates.check("sendMessage", "-100") is None
    assert rates.check("sendMessage", "-100") == 3  # one slot every 3 s
    assert rates.check("sendMessage", "@channel") is None
    clock.advance(3)
    assert rates.check("sendDocument", "-100") is None
    assert rates.stats()["limited_by_scope"] == {"group": 1}


async def test_only_message_sending_methods_are_limited() -> None:
    rates, _ = limiter(overall_per_second=1, private_burst=1)
    for method in ("getUpdates", "getFile", "answerCallbackQuery", "getMe", "setMyCommands"):
        for _ in range(5):
            await rates(method, Params({"chat_id": "5"}, {}))
    await rates("sendMessage", Params({"chat_id": 5, "text": "hi"}, {}))
    with pytest.raises(tg.ApiError) as excinfo:
        await rates("sendMessage", Params({"chat_id": 6, "text": "hi"}, {}))
    assert excinfo.value.to_dict() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    off = RateLimiter(None)
    for _ in range(100):
        await off("sendMessage", Params({"chat_id": 5, "text": "hi"}, {}))
    assert off.stats()["allowed"] == 0 and not off.enabled


def test_settings_round_trip_and_validation() -> None:
    limits = RateLimits.from_dict({"private_burst": 5}, RateLimits(overall_per_second=10))
    assert limits.to_dict()["overall_per_second"] == 10 and limits.private_burst == 5
    with pytest.raises(ValueError, match="unknown"):
        RateLimits.from_dict({"per_chat": 2})
    with pytest.raises(ValueError):
        RateLimits.from_dict({"overall_per_second": 0})
    faults = Faults.from_dict({"latency": [0.01, 0.02], "seed": "7"})
    assert faults.latency_range == (0.01, 0.02) and faults.seed == 7
    for bad in ({"error_rate": 1.5}, {"latency": -1}, {"error_codes": [404]}, {"colour": 1}):
        with pytest.raises(ValueError):
            Faults.from_dict(bad)


async def test_faults_are_reproducible_with_a_seed() -> None:
    async def outcomes(seed: int) -> list[str]:
        injector = FaultInjector(Faults(error_rate=0.3, drop_rate=0.2, seed=seed))
        seen = []
        for _ in range(50):
            try:
                await injector("sendMessage", Params({}, {}))
                seen.append("ok")
            except ServerFault as exc:
                seen.append(str(exc.code))
            except Exception as exc:
                seen.append(type(exc).__name__)
        return seen

    first = await outcomes(7)
    assert first == await outcomes(7)
    assert first != await outcomes(8)
    assert {"ok", "500", "502", "DroppedConnection"} <= set(first)


# -- over HTTP ---------------------------------------------------------------------------------


async def test_burst_to_one_chat_gets_429_with_retry_after(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 501)
    await client.set_limits()
    async with httpx.AsyncClient() as http:
        answers = [
            await bot_api(http, sandbox, "sendMessage", chat_id=501, text=f"{i}") for i in range(5)
        ]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].json() == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        }
        assert (await bot_api(http, sandbox, "getMe")).status_code == 200
    assert len(sandbox.world.chats[501].messages) == 3
    limits = await client.limits()
    assert limits["enabled"] and limits["config"]["private_burst"] == 3
    assert limits["stats"]["allowed"] == 3 and limits["stats"]["limited"] == 2
    assert limits["stats"]["by_method"] == {"sendMessage": {"allowed": 3, "limited": 2}}
    assert sandbox.requests[-2]["error_code"] == 429

    off = await client.set_limits(enabled=False)
    assert off["enabled"] is False and off["config"] is None
    async with httpx.AsyncClient() as http:
        for i in range(5):
            assert (
                await bot_api(http, sandbox, "sendMessage", chat_id=501, text=f"{i}")
            ).is_success


async def test_error_rate_answers_5xx_and_sends_nothing(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 502)
    config = await client.set_faults(error_rate=1.0, seed=3)
    assert config["config"]["error_rate"] == 1.0
    async with httpx.AsyncClient() as http:
        answers = [
            await bot_api(http, sandbox, "sendMessage", chat_id=502, text="hi") for _ in range(8)
        ]
        updates = await bot_api(http, sandbox, "getUpdates", timeout=0)  # spared by default
    assert {a.status_code for a in answers} == {500, 502}
    json_error = next(a for a in answers if a.status_code == 500)
    assert json_error.json() == {
        "ok": False,
        "error_code": 500,
        "description": "Internal Server Error",
    }
    html_error = next(a for a in answers if a.status_code == 502)
    assert html_error.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in html_error.text
    assert updates.status_code == 200
    assert sandbox.world.chats[502].messages == {}  # failed before taking effect
    stats = (await client.faults())["stats"]
    assert stats["eligible"] == 8 and stats["errors"] == 8
    assert sum(stats["errors_by_code"].values()) == 8
    assert (await client.stats())["messages_by_chat"] == {}


async def test_latency_is_added_before_answering(sandbox: Sandbox, client: SandboxClient) -> None:
    await client.set_faults(latency=0.15)
    async with httpx.AsyncClient() as http:
        began = time.perf_counter()
        assert (await bot_api(http, sandbox, "getMe")).is_success
        assert time.perf_counter() - began >= 0.15
        began = time.perf_counter()
        assert (await bot_api(http, sandbox, "getUpdates", timeout=0)).is_success
        assert time.perf_counter() - began < 0.15
        await client.set_faults(latency=[0.05, 0.1], include_get_updates=True)
        began = time.perf_counter()
        assert (await bot_api(http, sandbox, "getUpdates", timeout=0)).is_success
        assert time.perf_counter() - began >= 0.05
    stats = (await client.faults())["stats"]
    assert stats["delayed"] == 2 and 0.2 <= stats["latency_total"] <= 0.25


async def test_dropped_connection_is_a_transport_error(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    started_users(sandbox, 503)
    await client.set_faults(drop_rate=1.0)
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.TransportError):
            await bot_api(http, sandbox, "sendMessage", chat_id=503, text="hi")
        await client.set_faults(enabled=False)
        assert (await bot_api(http, sandbox, "sendMessage", chat_id=503, text="again")).is_success
    assert [m["text"] for m in sandbox.world.chats[503].messages.values()] == ["again"]
    dropped = [r for r in sandbox.requests if r.get("dropped")]
    assert [r["method"] for r in dropped] == ["sendMessage"]
    assert (await client.faults())["stats"]["dropped"] == 1


async def test_ptb_sees_faults_as_network_errors(sandbox: Sandbox, client: SandboxClient) -> None:
    started_users(sandbox, 504)
    application = application_builder(sandbox).build()
    async with application:
        for settings in ({"drop_rate": 1.0}, {"error_rate": 1.0, "error_codes": [502]}):
            await client.set_faults(enabled=False)
            await client.set_faults(**settings)
            with pytest.raises(NetworkError):
                await application.bot.send_message(504, "hi")
        await client.set_faults(enabled=False)
        await application.bot.send_message(504, "delivered")
    assert (await client.stats())["messages_by_chat"] == {"504": 1}


async def test_control_api_refuses_bad_settings(sandbox: Sandbox, client: SandboxClient) -> None:
    with pytest.raises(SandboxError, match="error_rate"):
        await client.set_faults(error_rate=2)
    with pytest.raises(SandboxError, match="unknown"):
        await client.set_limits(per_chat=3)
    with pytest.raises(SandboxError, match="enabled"):
        await client.call("POST", "/limits", {"enabled": "yes"})
    info = await client.info()
    assert info["rate_limits"] is False and info["faults"] is False
    on = await client.set_limits(overall_per_second=10)
    assert (await client.set_limits(private_burst=2))["config"]["overall_per_second"] == 10
    assert on["config"]["overall_per_second"] == 10


# -- who can be written to ---------------------------------------------------------------------


async def test_blocked_deleted_and_unknown_chats(sandbox: Sandbox, client: SandboxClient) -> None:
    user = await client.user(505)
    await user.send("/start")
    async with httpx.AsyncClient() as http:

        async def send(chat_id: int) -> dict[str, Any]:
            reply: dict[str, Any] = (
                await bot_api(http, sandbox, "sendMessage", chat_id=chat_id, text="hi")
            ).json()
            return reply

        assert (await send(505))["ok"]
        assert (await send(424242))["description"] == tg.CHAT_NOT_FOUND
        await user.block()
        assert await send(505) == {"ok": False, "error_code": 403, "description": tg.BOT_BLOCKED}
        await user.unblock()
        await user.delete_account()
        assert await send(505) == {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: user is deactivated",
        }
    assert (await client.call("GET", "/users/505"))["deactivated"] is True
    with pytest.raises(SandboxError, match="deleted"):
        await user.send("I'm back")
    application = application_builder(sandbox).build()
    async with application:
        with pytest.raises(Forbidden, match="user is deactivated"):
            await application.bot.send_message(505, "hi")


# -- a real PTB bot pacing itself ----------------------------------------------------------------


async def test_ptb_rate_limiter_delivers_each_message_exactly_once(
    sandbox: Sandbox, client: SandboxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # PTB 22.8 warns in RetryAfter() otherwise
    users = range(1001, 1061)
    started_users(sandbox, *users)
    await client.set_limits()
    paced = application_builder(sandbox).rate_limiter(AIORateLimiter(max_retries=3)).build()
    async with paced:
        began = time.perf_counter()
        results = await asyncio.gather(
            *(paced.bot.send_message(user, f"nudge {user}") for user in users),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - began
    assert not [r for r in results if isinstance(r, BaseException)]  # no 429 reached the bot
    stats = await client.stats()
    assert stats["messages_by_chat"] == {str(user): 1 for user in users}
    assert stats["messages"] == 60 and len(stats["timeline"]) == 60
    assert stats["peak_per_second"] <= 61  # 30 at once, then 30/s
    assert stats["limits"]["stats"]["allowed"] == 60
    assert elapsed < 5

    unpaced = application_builder(sandbox).build()
    async with unpaced:
        with pytest.raises(RetryAfter):
            for _ in range(4):
                await unpaced.bot.send_message(1001, "too fast")


async def test_stats_timeline_and_reset(sandbox: Sandbox, client: SandboxClient) -> None:
    started_users(sandbox, 506, 507)
    application = application_builder(sandbox).build()
    async with application:
        first = await application.bot.send_message(506, "one")
        await application.bot.send_message(507, "two")
        await application.bot.send_message(506, "three")
        await application.bot.edit_message_text("one, edited", 506, first.message_id)
    stats = await client.stats()
    assert stats["messages_by_chat"] == {"506": 2, "507": 1}
    assert stats["edits_by_chat"] == {"506": 1}
    assert [e["chat_id"] for e in stats["timeline"]] == [506, 507, 506]
    assert [e["method"] for e in stats["timeline"]] == ["sendMessage"] * 3
    times = [e["t"] for e in stats["timeline"]]
    assert times == sorted(times) and stats["first_send"] == times[0]
    assert stats["peak_per_second"] == 3 and stats["sends_per_second"] > 3
    assert stats["limits"]["enabled"] is False and stats["faults"]["enabled"] is False
    await client.reset_stats()
    cleared = await client.stats()
    assert cleared["messages"] == 0 and cleared["timeline"] == []
    assert cleared["sends_per_second"] is None


# -- command line ------------------------------------------------------------------------------


def test_command_line_switches_limits_and_faults() -> None:
    plain = build_sandbox(parse_args([]))
    assert not plain.rate_limiter.enabled and not plain.fault_injector.enabled
    argv = ["--rate-limits", "--error-rate", "0.2", "--latency", "0.01-0.05"]
    argv += ["--drop-rate", "0.01", "--seed", "7"]
    sandbox = build_sandbox(parse_args(argv))
    assert sandbox.rate_limiter.limits == RateLimits()
    assert sandbox.fault_injector.faults == Faults(
        error_rate=0.2, latency=[0.01, 0.05], drop_rate=0.01, seed=7
    )
    fixed = build_sandbox(parse_args(["--latency", "0.05"]))
    assert fixed.fault_injector.faults is not None
    assert fixed.fault_injector.faults.latency == 0.05
    with pytest.raises(SystemExit):
        parse_args(["--error-rate", "1.5"])
