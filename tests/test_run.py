"""`everystage run` as a real process: clean shutdown on SIGTERM, and no secrets in its logs."""

from __future__ import annotations

import asyncio
import os
import signal
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
        assert str(user.chat_id) not in logs
