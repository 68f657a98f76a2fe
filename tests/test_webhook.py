"""Webhook mode: Telegram (the sandbox) posts updates to the bot, which stores each in the durable
inbox before answering 200; the secret header, health endpoints and a graceful drain on SIGTERM,
in-process through ``serving(webhook=True)`` and as the real ``everystage run --webhook``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update

from bot.app import build_application, serving
from bot.cli import main
from bot.polling import StartupError
from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox.params import Params
from bot.sandbox.testing import TEST_TOKEN
from bot.services import services_of
from bot.settings import ConfigError, Settings, load_settings
from tests.conftest import EXAMPLE, ROOT, join, rows, settle, tap
from tests.test_reliability import EXPECTED, answer_all

SECRET = "webhook-secret_0123456789abcdef"
NAME = "Zephyrine"  # a participant's first name, never to be logged
TYPED = "Quokka evenings please"  # a typed answer, never to be logged
HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/telegram"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_env(port: int, secret: str | None = SECRET) -> dict[str, str]:
    """The environment of a bot taking updates on 127.0.0.1:port/telegram."""
    env = {
        "EVERYSTAGE_TELEGRAM__WEBHOOK_URL": f"http://127.0.0.1:{port}{PATH}",
        "EVERYSTAGE_TELEGRAM__WEBHOOK_LISTEN": f"127.0.0.1:{port}",
    }
    if secret is not None:
        env["EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET"] = secret
    return env


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def hooked(make_settings: Callable[..., Settings], port: int) -> Settings:
    """The example project, taking updates by webhook on a free local port."""
    return make_settings(**{k.removeprefix("EVERYSTAGE_"): v for k, v in webhook_env(port).items()})


def base(port: int) -> str:
    return f"http://127.0.0.1:{port}"


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def inbox_count(settings: Settings) -> int:
    return int(rows(settings, "SELECT count(*) FROM inbox")[0][0])


# -- in-process, through serving(webhook=True) -------------------------------------------------


async def test_a_journey_by_webhook_stores_each_update_before_answering(
    sandbox: Sandbox, client: SandboxClient, hooked: Settings, port: int
) -> None:
    acknowledged_unstored: list[Any] = []
    seen = 0

    def audit() -> None:
        # The sandbox confirms an update the moment the bot answered 2xx: it must be on disk.
        nonlocal seen
        fresh = list(sandbox.world.confirmations)[seen:]
        seen += len(fresh)
        if fresh:
            stored = {r[0] for r in rows(hooked, "SELECT update_id FROM inbox")}
            acknowledged_unstored.extend(i for i, _ in fresh if i not in stored)

    sandbox.world.listeners.append(audit)
    user = await client.user(6101, first_name="Wen")
    async with serving(build_application(hooked), webhook=True) as app:
        await join(user)
        await tap(user, "4")
        await user.expect("Which parts of the service")
        await settle(sandbox, app)

    assert acknowledged_unstored == []
    assert rows(hooked, "SELECT value FROM answers WHERE question_id = 'week'") == [("4",)]
    methods = [r["method"] for r in sandbox.requests]
    assert "getUpdates" not in methods and "deleteWebhook" not in methods
    [sent] = [r["params"] for r in sandbox.requests if r["method"] == "setWebhook"]
    decoded = {k: json.loads(v) if k == "allowed_updates" else v for k, v in sent.items()}
    assert decoded == {
        "url": f"http://127.0.0.1:{port}{PATH}",
        "secret_token": SECRET,
        "allowed_updates": list(Update.ALL_TYPES),
        "max_connections": 40 if isinstance(sent["max_connections"], int) else "40",
    }
    deliveries = await client.webhook_deliveries()
    assert deliveries and {d["status"] for d in deliveries} == {200}
    assert sandbox.world.webhook is not None  # left set: Telegram keeps updates for next time
    assert inbox_count(hooked) == len(deliveries)


async def test_the_health_endpoints_say_live_and_ready(
    sandbox: Sandbox, hooked: Settings, port: int
) -> None:
    async with (
        serving(build_application(hooked), webhook=True) as app,
        httpx.AsyncClient(base_url=base(port)) as http,
    ):
        live, ready = await http.get("/healthz"), await http.get("/readyz")
        assert (live.status_code, live.text) == (200, "ok")
        assert (ready.status_code, ready.text) == (200, "ready")
        # The database stops answering: not ready (still alive).
        await services_of(app).close_db()
        ready = await http.get("/readyz")
        assert (ready.status_code, ready.text) == (503, "not ready")
        assert (await http.get("/healthz")).status_code == 200


async def test_a_wrong_or_missing_secret_or_a_malformed_body_is_refused_and_not_stored(
    sandbox: Sandbox, hooked: Settings, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    update = {"update_id": 777001, "message": {"text": "pretend to be Telegram"}}
    async with (
        serving(build_application(hooked), webhook=True),
        httpx.AsyncClient(base_url=base(port)) as http,
    ):
        before = inbox_count(hooked)
        missing = await http.post(PATH, json=update)
        wrong = await http.post(PATH, json=update, headers={HEADER: SECRET[:-1] + "x"})
        longer = await http.post(PATH, json=update, headers={HEADER: SECRET + "x"})
        odd = await http.post(PATH, json=update, headers={HEADER: "sécret".encode()})
        assert [r.status_code for r in (missing, wrong, longer, odd)] == [401, 403, 403, 403]
        assert all(r.content == b"" for r in (missing, wrong, longer, odd))

        with caplog.at_level(logging.DEBUG):
            garbled = await http.post(
                PATH, content=b'{"update_id": 5, "message": "half a secr', headers={HEADER: SECRET}
            )
            not_an_update = await http.post(PATH, json=["a", "list"], headers={HEADER: SECRET})
            no_id = await http.post(PATH, json={"message": {"text": "x"}}, headers={HEADER: SECRET})
        assert [r.status_code for r in (garbled, not_an_update, no_id)] == [400, 400, 400]
        assert all(r.content == b"" for r in (garbled, not_an_update, no_id))
        assert inbox_count(hooked) == before
        assert "half a secr" not in caplog.text and "pretend" not in caplog.text
        assert (await http.get(PATH)).status_code == 405


REFUSE_INBOX_OFF = {False: "DROP TRIGGER refuse_inbox", True: "DROP TRIGGER refuse_inbox ON inbox"}


def refuse_inbox(settings: Settings) -> None:
    """Make every insert into the inbox fail, on either backend."""
    if not settings.storage.is_postgres:
        rows(
            settings,
            "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox"
            " BEGIN SELECT RAISE(ABORT, 'no room'); END",
        )
        return
    rows(
        settings,
        "CREATE OR REPLACE FUNCTION refuse_inbox() RETURNS trigger LANGUAGE plpgsql AS"
        " 'BEGIN RAISE EXCEPTION ''no room''; END'",
    )
    rows(
        settings,
        "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox"
        " FOR EACH ROW EXECUTE FUNCTION refuse_inbox()",
    )


async def test_an_update_that_cannot_be_stored_answers_500_and_telegram_sends_it_again(
    sandbox: Sandbox, client: SandboxClient, hooked: Settings
) -> None:
    await client.configure_webhook(first_retry=0.05, max_retry=0.2)
    user = await client.user(6102)
    async with serving(build_application(hooked), webhook=True):
        await join(user)
        # The database refuses to store anything more in the inbox (as a full disk would).
        refuse_inbox(hooked)
        await user.send("/help")
        await until(lambda: any(d["status"] == 500 for d in sandbox.webhook.log))
        refused = [d for d in sandbox.webhook.log if d["status"] == 500]
        [update_id] = {d["update_id"] for d in refused}
        assert sandbox.world.webhook_info()["last_error_message"] == (
            "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert rows(hooked, "SELECT count(*) FROM inbox WHERE update_id = ?", (update_id,)) == [
            (0,)
        ]
        rows(hooked, REFUSE_INBOX_OFF[hooked.storage.is_postgres])  # room again
        await user.expect("Here's what I can do")
    attempts = [d["status"] for d in sandbox.webhook.log if d["update_id"] == update_id]
    assert attempts[-1] == 200 and set(attempts[:-1]) == {500}
    assert rows(hooked, "SELECT status FROM inbox WHERE update_id = ?", (update_id,)) == [
        ("handled",)
    ]


async def test_a_webhook_set_without_the_bot_s_secret_is_refused_and_telegram_says_why(
    sandbox: Sandbox, client: SandboxClient, hooked: Settings, port: int
) -> None:
    await client.configure_webhook(first_retry=0.02, max_retry=0.1)
    user = await client.user(6103)
    url = f"http://127.0.0.1:{port}{PATH}"
    async with httpx.AsyncClient(base_url=sandbox.url) as api:

        async def set_webhook(**params: str) -> None:
            answer = await api.post(f"/bot{TEST_TOKEN}/setWebhook", data={"url": url, **params})
            assert answer.json()["result"] is True

        async with serving(build_application(hooked), webhook=True) as app:
            # Someone sets the webhook again without the secret, then with another one.
            for params, status, reason in (
                ({}, 401, "Unauthorized"),
                ({"secret_token": "someone-else-s"}, 403, "Forbidden"),
            ):
                await set_webhook(**params)
                await user.send("/start")
                log = sandbox.webhook.log
                await until(lambda: status in {d["status"] for d in log})  # noqa: B023
                assert sandbox.world.webhook_info()["last_error_message"] == (
                    f"Wrong response from the webhook: {status} {reason}"
                )
                assert inbox_count(hooked) == 0
            # The bot sets its own again (as a restart would): both are delivered and handled.
            await set_webhook(secret_token=SECRET)
            await until(lambda: not sandbox.world.updates)
            await settle(sandbox, app)
    assert inbox_count(hooked) == 2
    assert rows(hooked, "SELECT count(*) FROM inbox WHERE status = 'handled'") == [(2,)]
    await user.expect("Is that OK with you?")


async def test_an_address_already_in_use_is_one_line(sandbox: Sandbox, hooked: Settings) -> None:
    host, port = hooked.telegram.listen
    with socket.socket() as taken:
        taken.bind((host, port))
        taken.listen()
        with pytest.raises(StartupError) as refused:
            async with serving(build_application(hooked), webhook=True):
                pass
    assert str(refused.value).startswith(f"cannot listen on 127.0.0.1:{port} (")
    assert "check telegram.webhook_listen" in str(refused.value)


# -- settings --------------------------------------------------------------------------------


def problems_of(tmp_path: Path, extra: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name in list(os.environ):
        if name.startswith("EVERYSTAGE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "hook.toml"
    config.write_text(EXAMPLE.read_text().replace("[telegram]\n", f"[telegram]\n{extra}\n", 1))
    with pytest.raises(ConfigError) as failed:
        load_settings(config)
    return [str(problem) for problem in failed.value.problems]


def test_the_secret_is_refused_in_the_file_without_repeating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [problem] = problems_of(tmp_path, 'webhook_secret = "written-down-secret"', monkeypatch)
    assert "telegram.webhook_secret: the webhook secret must not be written in a file" in problem
    assert "EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET" in problem and "written-down" not in problem


def test_a_secret_telegram_would_refuse_is_a_config_problem(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError) as failed:
        make_settings(telegram__webhook_secret="base64+with/slashes=")
    [problem] = [str(p) for p in failed.value.problems]
    assert problem.startswith("environment EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET")
    assert "A-Z or a-z, a digit, _ or -" in problem and "base64" not in problem


@pytest.mark.parametrize(
    ("line", "wanted"),
    [
        ('webhook_url = "http://bot.example.org/telegram"', "must start with https://"),
        ('webhook_url = "https://bot.example.org:8000/telegram"', "ports 443, 80, 88 or 8443"),
        ('webhook_url = "bot.example.org"', "is not a web address"),
        ('webhook_listen = "8443"', "is not a host and port like '127.0.0.1:8443'"),
        ('webhook_path = "/healthz"', "/healthz is the health check"),
        ("max_connections = 500", "must be at most 100"),
    ],
)
def test_webhook_settings_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, wanted: str
) -> None:
    [problem] = problems_of(tmp_path, line, monkeypatch)
    assert f"hook.toml:23: telegram.{line.split()[0]}: " in problem and wanted in problem


def test_a_webhook_setting_has_sensible_defaults(make_settings: Callable[..., Settings]) -> None:
    telegram = make_settings(telegram__webhook_url="https://bot.example.org/hooks/tg").telegram
    assert telegram.listen == ("127.0.0.1", 8443)
    assert telegram.listen_path == "/hooks/tg"  # the path of the public URL
    assert telegram.max_connections == 40


def test_check_config_summarises_the_webhook_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("EVERYSTAGE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "hook.toml"
    line = 'webhook_url = "https://bot.example.org/telegram"'
    config.write_text(EXAMPLE.read_text().replace("[telegram]\n", f"[telegram]\n{line}\n", 1))
    assert main(["check-config", "--config", str(config)]) == 0
    summary = capsys.readouterr().out
    assert (
        "Webhook (run --webhook): https://bot.example.org/telegram, served on"
        " 127.0.0.1:8443/telegram; secret not set (set EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET)"
    ) in summary

    monkeypatch.setenv("EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET", SECRET)
    assert main(["check-config", "--config", str(config)]) == 0
    summary = capsys.readouterr().out
    assert "served on 127.0.0.1:8443/telegram; secret set" in summary and SECRET not in summary


# -- the real `everystage run --webhook` ----------------------------------------------------------


async def start_bot(
    sandbox: Sandbox, tmp_path: Path, port: int, *, without: str | None = None, db: str = "run.db"
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
        "EVERYSTAGE_TELEGRAM__API_BASE_URL": sandbox.url,
        "EVERYSTAGE_STORAGE__PATH": str(tmp_path / db),
        "EVERYSTAGE_STORAGE__FILES_DIR": str(tmp_path / "files"),
        "EVERYSTAGE_LOGGING__LEVEL": "DEBUG",
        **webhook_env(port),
    }
    if without is not None:
        del env[without]
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--webhook",
        "--config",
        str(EXAMPLE),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def ready(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    """Wait until the bot says it is ready."""
    async with asyncio.timeout(30):
        while True:
            assert process.returncode is None, "the bot exited while starting"
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


async def stopped(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_run_webhook_drains_on_sigterm_and_loses_nothing(
    sandbox: Sandbox, client: SandboxClient, tmp_path: Path, port: int
) -> None:
    await client.configure_webhook(first_retry=0.05, max_retry=0.5)
    participants = 4
    process = await start_bot(sandbox, tmp_path, port)
    logs: list[str] = []
    settings_db = tmp_path / "run.db"

    def count(sql: str) -> int:
        with sqlite3.connect(settings_db) as conn:
            return int(conn.execute(sql).fetchone()[0])

    def answers(chat_id: int) -> list[tuple[str, Any]]:
        with sqlite3.connect(settings_db) as conn:
            found = conn.execute(
                "SELECT a.question_id, a.value FROM answers a JOIN participants p"
                " ON p.id = a.participant_id WHERE p.chat_id = ? ORDER BY a.id",
                (chat_id,),
            ).fetchall()
        return [(q, json.loads(v)) for q, v in found]

    try:
        async with httpx.AsyncClient(base_url=base(port), timeout=5) as http:
            await ready(http, process)
            assert (await http.get("/healthz")).text == "ok"
            # Only Telegram, with the secret, may post updates.
            forged = {"update_id": 990001, "message": {"text": "forged"}}
            assert (await http.post(PATH, json=forged)).status_code == 401
            wrong = await http.post(PATH, json=forged, headers={HEADER: "not-" + SECRET})
            assert wrong.status_code == 403
            assert count("SELECT count(*) FROM inbox WHERE update_id = 990001") == 0

            # A participant agrees and completes a check-in, every update by webhook.
            whole = await client.user(6190, first_name=NAME)
            await join(whole)
            await answer_all(whole, said=TYPED)
            assert answers(whole.chat_id) == [*EXPECTED[:-1], ("anything-else", TYPED)]

            users = [await client.user(6200 + i, first_name=NAME) for i in range(participants)]
            for user in users:
                await join(user)

            # Slow the replies so SIGTERM lands while every answer is being handled.
            edits: list[str] = []
            in_flight = asyncio.Event()

            async def slow_edits(method: str, params: Params) -> None:
                if method == "editMessageText":
                    edits.append(method)
                    if len(edits) == participants:
                        in_flight.set()
                    await asyncio.sleep(1.5)

            sandbox.hooks.append(slow_edits)
            for user in users:
                await user.press("4")
            await asyncio.wait_for(in_flight.wait(), 10)
            process.send_signal(signal.SIGTERM)

            # Draining: alive, not ready, and new deliveries are turned away with 503.
            async with asyncio.timeout(10):
                while (await http.get("/readyz")).status_code != 503:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            assert (await http.get("/healthz")).status_code == 200
            late = await client.user(6299)
            await late.send("/start")
            await until(lambda: any(d["status"] == 503 for d in sandbox.webhook.log))

        _, err = await asyncio.wait_for(process.communicate(), 30)
        logs.append(err.decode())
        assert process.returncode == 0, logs[-1]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # Every answer received before the signal was stored, and its reply fully sent.
    assert count("SELECT count(*) FROM answers WHERE question_id = 'week'") == 1 + participants
    for user in users:
        await user.expect("Which parts of the service")
    # The delivery turned away while draining is still Telegram's to send: nothing lost.
    assert sandbox.world.webhook_info()["pending_update_count"] == 1
    assert count("SELECT count(*) FROM inbox WHERE status = 'pending'") == 0

    sandbox.hooks.clear()
    again = await start_bot(sandbox, tmp_path, port)
    try:
        await late.expect("Is that OK with you?", timeout=30)
        code, err = await stopped(again)
        logs.append(err)
    finally:
        if again.returncode is None:
            again.kill()
            await again.wait()
    assert code == 0, logs[-1]

    text = "\n".join(logs)
    assert "draining" in text and "listening for Telegram's webhook" in text
    assert "Traceback" not in text
    # DEBUG logs, yet no secret, no name, no id and no answer.
    for secret in (TEST_TOKEN, TEST_TOKEN.split(":")[1], SECRET):
        assert secret not in text
    for private in (NAME, TYPED, "forged"):
        assert private not in text
    for user in [whole, *users, late]:
        # As a number of its own: a port such as 36201 may hold the digits of chat 6201.
        assert not re.search(rf"(?<!\d){user.chat_id}(?!\d)", text)


async def test_run_webhook_that_telegram_refuses_is_one_line(tmp_path: Path, port: int) -> None:
    async with Sandbox(webhook_https_only=True) as strict:  # as Telegram: https only
        process = await start_bot(strict, tmp_path, port)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().splitlines()
    assert process.returncode == 1
    problems = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    assert len(problems) == 1, lines
    assert (
        f"Telegram refused the webhook http://127.0.0.1:{port}{PATH} (Bad webhook: an https"
        " url must be provided for webhook): check telegram.webhook_url"
    ) in problems[0]
    assert not any("Traceback" in line or SECRET in line for line in lines)


@pytest.mark.parametrize(
    ("missing", "wanted"),
    [
        ("EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET", "--webhook needs a secret: set"),
        ("EVERYSTAGE_TELEGRAM__WEBHOOK_URL", "--webhook needs telegram.webhook_url: the public"),
    ],
)
async def test_run_webhook_without_its_secret_or_url_is_one_line(
    sandbox: Sandbox, tmp_path: Path, port: int, missing: str, wanted: str
) -> None:
    process = await start_bot(sandbox, tmp_path, port, without=missing)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    lines = err.decode().splitlines()
    assert process.returncode == 2
    [problem] = [line for line in lines if " ERROR " in line]
    assert wanted in problem
    assert sandbox.requests == []  # it never reached Telegram
