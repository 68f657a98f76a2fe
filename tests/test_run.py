"""`everystage run` as a real process: clean shutdown on SIGTERM, and no secrets in its logs."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox.params import Params
from bot.sandbox.testing import TEST_TOKEN
from tests.conftest import EXAMPLE, ROOT, rows

PARTICIPANTS = 5


async def test_sigterm_finishes_fetched_updates_and_logs_no_secrets(
    sandbox: Sandbox, client: SandboxClient, settings: Any, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
        "EVERYSTAGE_TELEGRAM__API_BASE_URL": sandbox.url,
        "EVERYSTAGE_STORAGE__PATH": str(settings.storage.path),
        "EVERYSTAGE_STORAGE__FILES_DIR": str(tmp_path / "files"),
        "EVERYSTAGE_LOGGING__LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(EXAMPLE),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        users = [await client.user(5000 + i) for i in range(PARTICIPANTS)]
        for user in users:
            await user.send("/start")
            await user.expect("Is that OK with you?", timeout=30)
            await user.press("✅ Yes, I agree")
            await user.expect("How has your week been?")

        # Slow the bot's replies down so that SIGTERM lands while every answer is in flight:
        # fetched (so already confirmed to Telegram) but not yet fully handled.
        edits: list[str] = []
        in_flight = asyncio.Event()

        async def slow_edits(method: str, params: Params) -> None:
            if method == "editMessageText":
                edits.append(method)
                if len(edits) == PARTICIPANTS:
                    in_flight.set()
                await asyncio.sleep(0.5)

        sandbox.hooks.append(slow_edits)
        for user in users:
            await user.press("4")
        await asyncio.wait_for(in_flight.wait(), 10)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    logs = (await process.stderr.read()).decode()

    assert code == 0, logs
    # Every answer fetched before the signal was stored, and its reply fully sent.
    assert rows(settings, "SELECT count(*) FROM answers WHERE question_id = 'week'") == [
        (PARTICIPANTS,)
    ]
    for user in users:
        await user.expect("Which parts of the service")

    assert "Application started" in logs or "starting" in logs
    assert TEST_TOKEN not in logs and TEST_TOKEN.split(":")[1] not in logs
    for user in users:
        # As a number of its own: the sandbox's port (say 45003) may contain an id's digits.
        assert not re.search(rf"(?<!\d){user.chat_id}(?!\d)", logs), user.chat_id


# -- start-up problems: one clear line, no token, a non-zero exit -------------------------------


async def start_bot(
    tmp_path: Path, api_base_url: str, token: str = TEST_TOKEN, config: Path = EXAMPLE
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "EVERYSTAGE_TELEGRAM__TOKEN": token,
        "EVERYSTAGE_TELEGRAM__API_BASE_URL": api_base_url,
        "EVERYSTAGE_STORAGE__PATH": str(tmp_path / "start.db"),
        "EVERYSTAGE_LOGGING__LEVEL": "INFO",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, list[str]]:
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode().splitlines()


async def test_a_revoked_token_is_one_line_without_the_token(tmp_path: Path) -> None:
    other = "7000000002:another-token-that-telegram-refuses-xyz"
    async with Sandbox(token=TEST_TOKEN) as sandbox:  # Telegram knows only the real token
        code, lines = await finished(await start_bot(tmp_path, sandbox.url, token=other))
    assert code == 1
    problems = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    assert len(problems) == 1, lines
    assert "Telegram rejected the bot token (401 Unauthorized)" in problems[0]
    assert not any("Traceback" in line or other.split(":")[1] in line for line in lines)


async def test_a_wrong_address_is_one_line(sandbox: Sandbox, tmp_path: Path) -> None:
    code, lines = await finished(await start_bot(tmp_path, f"{sandbox.url}/not-the-bot-api"))
    assert code == 1
    problems = [line for line in lines if " ERROR " in line]
    assert len(problems) == 1 and "answered 404 Not Found" in problems[0], lines
    assert "check telegram.api_base_url" in problems[0]
    assert not any("Traceback" in line or TEST_TOKEN.split(":")[1] in line for line in lines)


async def test_an_unreachable_bot_api_is_retried_and_sigterm_stops_it(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on
    port = closed.getsockname()[1]
    process = await start_bot(tmp_path, f"http://127.0.0.1:{port}")
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while not any("cannot reach the Bot API" in line for line in seen):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            assert line, seen
            seen.append(line.decode())
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        closed.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 0
    assert (
        f"cannot reach the Bot API at http://127.0.0.1:{port} (ConnectError); retrying in 1 s"
        in ("".join(seen))
    )
    assert "Traceback" not in "".join(seen)


async def test_a_missing_language_is_one_config_line_before_anything_starts(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = tmp_path / "fr.toml"
    config.write_text(EXAMPLE.read_text().replace('locale = "en"', 'locale = "fr"'))
    code, lines = await finished(await start_bot(tmp_path, sandbox.url, config=config))
    assert code == 2
    assert f"{config}:" in lines[0] and "project.locale: 'fr' is not a language" in lines[0]
    assert not any("Traceback" in line for line in lines)
    assert sandbox.requests == []  # it never even reached Telegram
