"""The sandbox's webhooks: setWebhook, getWebhookInfo, deliveries by POST as Telegram makes them
(secret header, max_connections, each chat in order, retries), 409 on getUpdates, round-robin."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiohttp import web

from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox import errors as tg
from bot.sandbox.testing import TEST_TOKEN
from bot.sandbox.webhook import SECRET_HEADER

SECRET = "s3cret_token-for-tests"


class Receiver:
    """A bot's webhook endpoint: records what Telegram posts and answers as told."""

    def __init__(self, delay: float = 0.0, require: str | None = None) -> None:
        self.delay = delay
        self.require = require  # the secret it expects, as the bot does (401/403 otherwise)
        self.statuses: list[int] = []  # answered in turn; then 200
        self.received: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.answered: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self.chats_running: dict[int, int] = {}
        self.most_at_once_per_chat = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        chat = update.get("message", {}).get("chat", {}).get("id")
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.chats_running[chat] = self.chats_running.get(chat, 0) + 1
        self.most_at_once_per_chat = max(self.most_at_once_per_chat, self.chats_running[chat])
        try:
            await asyncio.sleep(self.delay)
            given = request.headers.get(SECRET_HEADER)
            if self.require is not None and given != self.require:
                status = 401 if given is None else 403
            else:
                status = self.statuses.pop(0) if self.statuses else 200
            self.secrets.append(given)
            self.answered.append(status)
            if status == 200:
                self.received.append(update)
            return web.Response(status=status)
        finally:
            self.running -= 1
            self.chats_running[chat] -= 1

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [
            u["message"]["text"]
            for u in self.received
            if "message" in u and chat_id in (None, u["message"]["chat"]["id"])
        ]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@asynccontextmanager
async def receiving(delay: float = 0.0, require: str | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(delay, require)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def bot_api(sandbox: Sandbox, method: str, **data: Any) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{sandbox.url}/bot{TEST_TOKEN}/{method}", data=data)
    body: dict[str, Any] = response.json()
    return body


async def set_webhook(sandbox: Sandbox, url: str, **params: Any) -> dict[str, Any]:
    data = {"url": url, "secret_token": SECRET, **params}
    return await bot_api(sandbox, "setWebhook", **{k: v for k, v in data.items() if v is not None})


async def until(condition: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_updates_are_posted_with_the_secret_header(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    async with receiving() as receiver:
        answer = await set_webhook(
            sandbox,
            receiver.url,
            max_connections="5",
            allowed_updates=json.dumps(["message", "callback_query"]),
        )
        assert answer == {"ok": True, "result": True}
        user = await client.user(21, "Ada")
        await user.send("hello")
        await until(lambda: receiver.received)

        [update] = receiver.received
        assert update["message"]["text"] == "hello" and update["update_id"] == 1
        assert receiver.secrets == [SECRET]
        await until(lambda: not sandbox.world.updates)  # acknowledged, so confirmed
        assert sandbox.world.update_record()["confirmed"] == [1]
        info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
        assert info == {
            "url": receiver.url,
            "has_custom_certificate": False,
            "pending_update_count": 0,
            "max_connections": 5,
            "allowed_updates": ["callback_query", "message"],
        }
        view = await client.webhook()
        assert view["urls"] == [receiver.url] and view["secret_token_set"] is True
        [attempt] = await client.webhook_deliveries()
        assert attempt | {"sent_at": 0, "answered_at": 0} == {
            "update_id": 1,
            "url": receiver.url,
            "attempt": 1,
            "status": 200,
            "error": None,
            "retry_in": None,
            "sent_at": 0,
            "answered_at": 0,
        }


async def test_get_updates_is_a_conflict_while_a_webhook_is_set(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    port = free_port()  # nobody listens: the update stays queued
    await set_webhook(sandbox, f"http://127.0.0.1:{port}/hook")
    user = await client.user(22)
    await user.send("queued")
    refused = await bot_api(sandbox, "getUpdates", timeout="0")
    assert refused == {"ok": False, "error_code": 409, "description": tg.WEBHOOK_ACTIVE}

    assert await bot_api(sandbox, "deleteWebhook") == {"ok": True, "result": True}
    polled = (await bot_api(sandbox, "getUpdates", timeout="0"))["result"]
    assert [u["message"]["text"] for u in polled] == ["queued"]
    info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 1}


async def test_failed_deliveries_are_retried_with_growing_waits(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    await client.configure_webhook(first_retry=0.05, max_retry=0.4)
    async with receiving() as receiver:
        receiver.statuses = [500, 503, 500]
        await set_webhook(sandbox, receiver.url)
        user = await client.user(23)
        await user.send("eventually")
        await until(lambda: receiver.received)
        assert receiver.answered == [500, 503, 500, 200]
        info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
        assert (
            info["last_error_message"]
            == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert info["pending_update_count"] == 0
        attempts = await client.webhook_deliveries()
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        assert [a["retry_in"] for a in attempts] == [0.05, 0.1, 0.2, None]  # doubling

    # Nobody listening: "Connection refused", kept until the bot is back.
    port = free_port()
    await set_webhook(sandbox, f"http://127.0.0.1:{port}/hook")
    await user.send("while down")
    await until(
        lambda: sandbox.world.webhook_info().get("last_error_message") == "Connection refused"
    )
    assert sandbox.world.webhook_info()["pending_update_count"] == 1
    async with receiving() as back:
        await set_webhook(sandbox, back.url)  # the bot comes back at another address
        await until(lambda: back.received)
        assert back.texts() == ["while down"]


async def test_each_chat_in_order_and_at_most_max_connections(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    async with receiving(delay=0.05) as receiver:
        await set_webhook(sandbox, receiver.url, max_connections="2")
        receiver.statuses = [500]  # the first delivery fails: its chat waits for the retry
        users = [await client.user(30 + i) for i in range(4)]
        for n in range(3):
            for user in users:
                await user.send(f"{user.chat_id}-{n}")
        await until(lambda: len(receiver.received) == 12, timeout=10)
        assert receiver.most_at_once == 2
        for user in users:
            assert receiver.texts(user.chat_id) == [f"{user.chat_id}-{n}" for n in range(3)]
        # No chat ever had two deliveries in flight at once.
        assert receiver.most_at_once_per_chat == 1


async def test_round_robin_over_the_targets_as_a_load_balancer_would(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    public = f"http://127.0.0.1:{free_port()}/hook"  # the load balancer: nobody listens there
    async with receiving() as first, receiving() as second:
        # Each worker sets the same public URL; the load balancer forwards to their addresses.
        assert await client.webhook_targets([first.url, second.url]) == []  # no webhook yet
        await set_webhook(sandbox, public, max_connections="1")
        await set_webhook(sandbox, public, max_connections="1")
        assert (await client.webhook())["urls"] == [first.url, second.url]
        user = await client.user(41)
        for n in range(6):
            await user.send(f"m{n}")
        await until(lambda: len(first.received) + len(second.received) == 6)
        assert first.texts() == ["m0", "m2", "m4"] and second.texts() == ["m1", "m3", "m5"]

        # One of them goes away: its turns fail and are retried on the next target.
        await second.stop()
        await client.configure_webhook(first_retry=0.01)
        for n in range(6, 9):
            await user.send(f"m{n}")
        await until(lambda: len(first.received) == 6)
        assert first.texts()[3:] == ["m6", "m7", "m8"]
        attempts = await client.webhook_deliveries()
        refused = [a for a in attempts if a["error"]]
        assert refused and {a["url"] for a in refused} == {second.url}
        assert {a["error"] for a in refused} == {"Connection refused"}
        # Each refused delivery was retried on the other target, and went through there.
        for failed in refused:
            retry = next(
                a
                for a in attempts
                if a["update_id"] == failed["update_id"] and a["attempt"] == failed["attempt"] + 1
            )
            assert (retry["url"], retry["status"]) == (first.url, 200)
        assert sandbox.world.webhook_info()["url"] == public  # what getWebhookInfo shows

        assert await client.webhook_targets([]) == [public]


async def test_a_missing_or_wrong_secret_is_a_failed_delivery_telegram_reports(
    sandbox: Sandbox, client: SandboxClient
) -> None:
    await client.configure_webhook(first_retry=0.01, max_retry=0.05)
    async with receiving(require=SECRET) as receiver:
        await bot_api(sandbox, "setWebhook", url=receiver.url)  # no secret_token
        user = await client.user(42)
        await user.send("knock")
        await until(lambda: 401 in receiver.answered)
        assert receiver.secrets[0] is None
        assert sandbox.world.webhook_info()["last_error_message"] == (
            "Wrong response from the webhook: 401 Unauthorized"
        )
        await set_webhook(sandbox, receiver.url, secret_token="not-the-secret")
        await until(lambda: 403 in receiver.answered)
        assert sandbox.world.webhook_info()["last_error_message"] == (
            "Wrong response from the webhook: 403 Forbidden"
        )
        assert sandbox.world.webhook_info()["pending_update_count"] == 1  # still Telegram's
        await set_webhook(sandbox, receiver.url)  # the right secret: delivered at last
        await until(lambda: receiver.received)
        assert receiver.texts() == ["knock"]
        await until(lambda: not sandbox.world.updates)


async def test_set_webhook_is_checked_as_telegram_checks_it(sandbox: Sandbox) -> None:
    async def refusal(**params: Any) -> str:
        body = await bot_api(sandbox, "setWebhook", **params)
        assert body["ok"] is False and body["error_code"] == 400, body
        return str(body["description"])

    url = "http://127.0.0.1:9/hook"
    assert await refusal(url=url, secret_token="no spaces") == (
        "Bad Request: secret token contains unallowed characters"
    )
    assert await refusal(url=url, secret_token="a" * 257) == "Bad Request: secret token is too long"
    assert await refusal(url="ftp://example.org/hook") == (
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
    )
    assert sandbox.world.webhook is None

    await bot_api(sandbox, "setWebhook", url=url, max_connections="1000")
    assert sandbox.world.webhook_info()["max_connections"] == 100  # clamped, as Telegram does
    assert (await bot_api(sandbox, "setWebhook", url=""))["result"] is True  # removes it
    assert sandbox.world.webhook is None


async def test_telegram_rules_for_webhook_urls_when_asked() -> None:
    async with Sandbox(webhook_https_only=True) as strict:
        plain = await bot_api(strict, "setWebhook", url="http://bot.example.org/hook")
        assert plain["description"] == (
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
        port = await bot_api(strict, "setWebhook", url="https://bot.example.org:8000/hook")
        assert port["description"] == (
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )
        fine = await bot_api(strict, "setWebhook", url="https://bot.example.org:8443/hook")
        assert fine["result"] is True
        assert strict.violations == []
