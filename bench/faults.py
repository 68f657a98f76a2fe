"""The fault table: every row of issue 9, re-measured through the sandbox.

    python -m bench.faults [--quick] [--only burst,random,...] [--baseline PATH]

Each row runs the real ``everystage run`` process (this checkout, and with ``--baseline`` also
another checkout, such as the old main in a git worktree, in the same run) against the local
Bot API sandbox, produces the fault, and measures what a participant or an auditor would see.
The table prints each figure beside the one the independent test measured on the landed main
(quoted from the issue) and the target. A benchmark reports; it does not fail on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import signal
import sqlite3
import stat
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.chaos import ROOT, BotProcess, Crowd, chaos_run, write_config
from bot.sandbox import Sandbox, SandboxClient
from bot.sandbox.faults import Faults
from bot.sandbox.formatting import command_entities
from bot.sandbox.limits import RateLimits
from bot.sandbox.testing import TEST_TOKEN

EXAMPLE = ROOT / "config.example.toml"
COORDINATOR = 990001
NUDGE = "Time for the Benchmark check-in"
STAGE_NEWS = "moved to the delivery stage"


@dataclass
class Ctx:
    """Where a row runs: the checkout (``src``) and a scratch folder."""

    src: Path
    work: Path
    quick: bool


Row = Callable[[Ctx], Awaitable[str]]


@dataclass(frozen=True)
class Fault:
    """One row of the table."""

    name: str
    fault: str
    measured_on_main: str  # the figure
    target: str
    run: Row


def scratch(ctx: Ctx, name: str) -> Path:
    """A fresh folder for one row."""
    folder = ctx.work / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:  # noqa: ASYNC109
    """Poll ``check`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(step)
    return check()


def bot_texts(sandbox: Sandbox, chat_id: int) -> list[str]:
    """What the bot has posted in a chat."""
    chat = sandbox.world.chats.get(chat_id)
    if chat is None:
        return []
    return [
        m.get("text") or m.get("caption") or ""
        for m in chat.messages.values()
        if m.get("from", {}).get("is_bot")
    ]


def say(sandbox: Sandbox, chat_id: int, text: str, user_id: int | None = None) -> None:
    """A person writes in a chat (on the sandbox's world directly)."""
    content: dict[str, Any] = {"text": text}
    if entities := command_entities(text):
        content["entities"] = entities
    sandbox.world.user_message(chat_id, content, user_id)


def press_where(sandbox: Sandbox, chat_id: int, prefix: str) -> bool:
    """Press the newest button in a chat whose callback data starts with ``prefix``."""
    chat = sandbox.world.chats[chat_id]
    for message in reversed(list(chat.messages.values())):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if str(button.get("callback_data", "")).startswith(prefix):
                    sandbox.world.press(chat_id, message["message_id"], button["callback_data"])
                    return True
    return False


# ---------------------------------------------------------------------------------------------
# Crashes.


async def burst(ctx: Ctx) -> str:
    lost = stuck_stored = pressed = people = 0
    rounds = 1 if ctx.quick else 3
    for number in range(rounds):
        async with Sandbox() as sandbox:
            report = await chaos_run(
                sandbox,
                scratch(ctx, f"burst{number}"),
                participants=200,
                questions=5,
                kills=1,
                kill_after=(1.5, 1.5),
                settle_seconds=40,
                seed=number,
                src=ctx.src,
            )
        verdict = report.verdict
        lost += verdict.lost_confirmed
        stuck_stored += verdict.stuck_after_stored
        pressed += verdict.answers_pressed
        people += verdict.people
    return (
        f"{lost} of {pressed} answers lost (confirmed); {stuck_stored} of {people} stored but"
        " never got the next question"
    )


async def random_kills(ctx: Ctx) -> str:
    kills = 5 if ctx.quick else 20
    async with Sandbox() as sandbox:
        report = await chaos_run(
            sandbox,
            scratch(ctx, "random"),
            participants=50,
            questions=5,
            kills=kills,
            kill_after=(0.05, 1.0),
            settle_seconds=40,
            seed=20,
            src=ctx.src,
        )
    v = report.verdict
    return (
        f"{kills} kills: {v.lost} answers lost, {v.doubled} doubled, {v.stuck} of {v.people}"
        f" stuck ({v.stuck_after_stored} stored without a next question);"
        f" {v.duplicate_questions} questions shown twice"
    )


async def five_xx(ctx: Ctx) -> str:
    async with Sandbox() as sandbox:
        sandbox.configure(
            faults=Faults(error_rate=0.1, methods=["sendMessage", "editMessageText"], seed=9)
        )
        report = await chaos_run(
            sandbox,
            scratch(ctx, "5xx"),
            participants=100,
            questions=5,
            kills=0,
            settle_seconds=40,
            seed=9,
            src=ctx.src,
        )
        errors = sandbox.fault_injector.stats()["errors"]
    v = report.verdict
    share = 100 * v.stuck / v.people
    return f"{v.stuck} of {v.people} people ({share:.0f}%) stuck; {errors} 5xx answered"


# ---------------------------------------------------------------------------------------------
# Malformed updates.

SECRET_NAME = "Zebedee-Quartermaine"
SECRET_TEXT = "my-secret-address-42-Lark-Lane"


def malformed_updates() -> list[dict[str, Any]]:
    """The four shapes of the issue, carrying a name and text a log must not show."""
    person = {"id": 777123456, "is_bot": False, "first_name": SECRET_NAME}
    chat = {"id": 777123456, "type": "private", "first_name": SECRET_NAME}
    return [
        {"message": {"message_id": 1, "from": person, "chat": chat, "text": SECRET_TEXT}},
        {
            "message": {
                "message_id": 2,
                "date": 1,
                "from": person,
                "chat": chat,
                "text": SECRET_TEXT,
                "entities": "bold",
            }
        },
        {
            "poll": {
                "id": "p",
                "question": SECRET_TEXT,
                "options": [{"text": SECRET_NAME, "voter_count": 1}],
                "total_voter_count": 1,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        },
        {"poll_answer": {"poll_id": "p", "option_ids": [0], "user": person}},
    ]


async def malformed(ctx: Ctx) -> str:
    folder = scratch(ctx, "malformed")
    window = 5.0 if ctx.quick else 10.0
    async with Sandbox() as sandbox:
        bot = BotProcess(sandbox.url, folder, write_config(folder, 5), src=ctx.src)
        crowd = Crowd(sandbox, 20, 5)
        try:
            await bot.start()
            await wait_for(lambda: sandbox.world.get_updates_calls > 0, 30)
            for update in malformed_updates():
                sandbox.world.inject_update(update)
            calls, size = sandbox.world.get_updates_calls, bot.log.stat().st_size if bot.log else 0
            started = time.monotonic()
            crowd.start()
            await crowd.run_until(started + window)
            await asyncio.sleep(max(0.0, started + window - time.monotonic()))
            seconds = time.monotonic() - started
            polls = (sandbox.world.get_updates_calls - calls) / seconds
            assert bot.log is not None
            grown = (bot.log.stat().st_size - size) / seconds
        finally:
            await bot.ensure_stopped()
        log = bot.log.read_text(errors="replace")
    leaks = sum(log.count(s) for s in (SECRET_NAME, SECRET_TEXT, "777123456"))
    return (
        f"{crowd.done} of {len(crowd.people)} served; {polls:.1f} getUpdates/s;"
        f" log {grown / 1024:.1f} KB/s; {leaks} names/ids/texts in the log"
    )


# ---------------------------------------------------------------------------------------------
# Nudges and one-off messages.

NUDGE_CONFIG = f"""
[nudges]
quiet_hours = ["00:00", "00:00"]
check_every_seconds = 2

[coordinators]
user_ids = [{COORDINATOR}]
"""


async def join_everyone(sandbox: Sandbox, crowd: Crowd, timeout: float) -> None:  # noqa: ASYNC109
    """Everyone says yes to taking part (and stops at the first question)."""
    crowd.start()
    for person in crowd.people:
        await wait_for(lambda p=person: press_where(sandbox, p.user_id, "consent:yes:"), timeout)
    await wait_for(
        lambda: all(
            any("Question 1 of" in t for t in bot_texts(sandbox, p.user_id)) for p in crowd.people
        ),
        timeout,
    )


def copies(sandbox: Sandbox, crowd: Crowd, text: str) -> list[int]:
    """How many messages containing ``text`` each person got."""
    return [sum(text in t for t in bot_texts(sandbox, p.user_id)) for p in crowd.people]


async def broadcast(sandbox: Sandbox) -> None:
    """The coordinator asks everyone for the check-in now."""
    sandbox.world.ensure_user(COORDINATOR, "Coordinator")
    say(sandbox, COORDINATOR, "/ask bench")


async def lost_replies(ctx: Ctx) -> str:
    folder = scratch(ctx, "after")
    people = 60 if ctx.quick else 300
    async with Sandbox() as sandbox:
        bot = BotProcess(sandbox.url, folder, write_config(folder, 3, NUDGE_CONFIG), src=ctx.src)
        crowd = Crowd(sandbox, people, 3)
        try:
            await bot.start()
            await join_everyone(sandbox, crowd, 60)
            # Telegram delivers, then the answer is lost: a 502, a dropped connection, or an
            # answer slower than the bot's 5 s read timeout.
            sandbox.configure(
                faults=Faults(
                    methods=["sendMessage"],
                    after_error_rate=0.1,
                    after_drop_rate=0.05,
                    after_latency=7.0,
                    after_latency_rate=0.05,
                    seed=4,
                )
            )
            await broadcast(sandbox)
            await wait_for(lambda: all(copies(sandbox, crowd, NUDGE)), 60)
            await asyncio.sleep(20 if ctx.quick else 30)  # retries, reminders' first tick
        finally:
            sandbox.configure(faults=None)
            await bot.ensure_stopped()
        uncertain = _count(
            bot.database,
            "SELECT count(*) FROM send_attempts WHERE outcome = 'uncertain'",
        )
    got = copies(sandbox, crowd, NUDGE)
    twice = sum(n > 1 for n in got)
    return (
        f"{twice} of {people} got duplicates, at most {max(got)} copies; {got.count(0)} got none;"
        f" {uncertain if uncertain is not None else 'no'} ambiguous sends recorded"
    )


def _count(database: Path, sql: str) -> int | None:
    try:
        with sqlite3.connect(database) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return None  # an older schema without that table


async def kill_mid_broadcast(ctx: Ctx) -> str:
    folder = scratch(ctx, "broadcast")
    people = 100 if ctx.quick else 300
    async with Sandbox(limits=RateLimits()) as sandbox:
        bot = BotProcess(
            sandbox.url,
            folder,
            write_config(folder, 3, NUDGE_CONFIG),
            src=ctx.src,
            env={"EVERYSTAGE_TELEGRAM__RATE_LIMIT": "true"},
        )
        crowd = Crowd(sandbox, people, 3)
        try:
            await bot.start()
            await join_everyone(sandbox, crowd, 120)
            await broadcast(sandbox)
            say(sandbox, COORDINATOR, "/stage next")
            await wait_for(lambda: press_where(sandbox, COORDINATOR, "stage:yes:"), 30)
            for _ in range(2):  # SIGKILL twice while it is sending
                await asyncio.sleep(3.0)
                await bot.kill(signal.SIGKILL)
                await bot.start()
            await wait_for(
                lambda: (
                    all(copies(sandbox, crowd, NUDGE)) and all(copies(sandbox, crowd, STAGE_NEWS))
                ),
                90,
            )
            await asyncio.sleep(5)
        finally:
            await bot.ensure_stopped()
        marked = _count(bot.database, "SELECT count(*) FROM outbox WHERE status = 'sent'")
    nudges, news = copies(sandbox, crowd, NUDGE), copies(sandbox, crowd, STAGE_NEWS)
    phantom = (marked or 0) - sum(1 for n in news if n)
    return (
        f"{nudges.count(0)} of {people} never got the nudge, {news.count(0)} never got the stage"
        f" news; {max(phantom, 0)} outbox rows 'sent' but never delivered; at most"
        f" {max(nudges + news)} copies"
    )


# ---------------------------------------------------------------------------------------------
# Privacy.

PHRASE = "the kitchen smells of damp and the damp never gets fixed"


async def example_bot(
    ctx: Ctx, folder: Path, sandbox: Sandbox, level: str = "INFO", **env: str
) -> BotProcess:
    """The example project as a process, coordinators' chat and one coordinator set."""
    text = EXAMPLE.read_text().replace("user_ids = [111111111]", f"user_ids = [{COORDINATOR}]")
    text = text.replace("# chat_id = -1001234567890", "chat_id = -1009990001")
    config = folder / "example.toml"
    config.write_text(text)
    bot = BotProcess(
        sandbox.url,
        folder,
        config,
        src=ctx.src,
        env={"EVERYSTAGE_LOGGING__LEVEL": level, **env},
    )
    await bot.start()
    return bot


async def answer_with_a_phrase(client: SandboxClient, user_id: int, **profile: Any) -> None:
    """Consent, a check-in with a typed phrase and a voice note, and yes to being quoted."""
    user = await client.user(user_id, **profile)
    await user.send("/start")
    await user.expect("Is that OK with you?", timeout=30)
    await user.press("✅ Yes, I agree")
    await user.expect("How has your week been?")
    await user.press("2")
    await user.expect("What made it hard?")
    await user.send_voice(b"OggS voice note bytes Marigold", duration=2)
    await user.expect("Which parts of the service")
    await user.press("Done ✔")  # nothing ticked: the bot asks to tick or skip
    await user.press("I'd rather not say")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing first")
    await user.press("Waiting times")
    await user.expect("Anything else")
    await user.send(PHRASE)
    await user.expect("May we quote your words", timeout=10)
    await user.press("Yes, you can")
    await asyncio.sleep(0.5)


async def erasure(ctx: Ctx) -> str:
    folder = scratch(ctx, "erasure")
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox)
        try:
            await answer_with_a_phrase(client, 880001)
            await answer_with_a_phrase(client, 880002)
            await answer_with_a_phrase(client, 880003)
            coordinator = await client.user(COORDINATOR)
            await coordinator.send("/digest")
            await coordinator.expect("digest", timeout=60)
            await asyncio.sleep(3)
            before = _files_with(folder, PHRASE.encode(), skip=("bot.log",))
            for user_id in (880001, 880002, 880003):
                user = await client.user(user_id)
                await user.send("/delete")
                await user.expect("Are you sure?")
                await user.press("Yes, delete it all")
                await user.expect("Everything about you has been deleted", timeout=60)
            await asyncio.sleep(1)
            after = _files_with(folder, PHRASE.encode(), skip=("bot.log",))
        finally:
            await bot.ensure_stopped()
    return f"phrase in {len(before)} files before /delete ({', '.join(before)}), {len(after)} after"


def _files_with(folder: Path, needle: bytes, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in skip and needle in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return sorted(found)


async def debug_logs(ctx: Ctx) -> str:
    folder = scratch(ctx, "debug")
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox, level="DEBUG")
        try:
            await answer_with_a_phrase(
                client,
                881234567,
                first_name="Philippa",
                last_name="Okonkwo-Brandt",
                username="pip_okb",
            )
        finally:
            await bot.kill(signal.SIGTERM)
            await bot.ensure_stopped()
    assert bot.log is not None
    log = bot.log.read_text(errors="replace")
    found = {
        s: log.count(s)
        for s in (PHRASE, "Philippa", "Okonkwo-Brandt", "pip_okb", "881234567", TEST_TOKEN)
    }
    leaks = {k: v for k, v in found.items() if v}
    lines = log.count("\n")
    return f"{lines} log lines at DEBUG; leaks: {leaks or 'none'}"


async def start_problems(ctx: Ctx) -> str:
    results = []
    for label, token, suffix in (
        ("401", "7000000009:a-token-telegram-has-revoked-abcdefghij", ""),
        ("404", TEST_TOKEN, "/wrong-path"),
    ):
        folder = scratch(ctx, f"start{label}")
        async with Sandbox(token=TEST_TOKEN) as sandbox:
            bot = BotProcess(
                sandbox.url + suffix,
                folder,
                write_config(folder, 3),
                src=ctx.src,
                env={"EVERYSTAGE_TELEGRAM__TOKEN": token},
            )
            await bot.start()
            try:
                code: int | str = await asyncio.wait_for(bot.process.wait(), 20)  # type: ignore[union-attr]
            except TimeoutError:
                code = "still running after 20 s"
            await bot.ensure_stopped()
        assert bot.log is not None
        log = bot.log.read_text(errors="replace")
        secret = token.split(":")[1]
        results.append(
            f"{label}: exit {code}, {log.count(chr(10))} lines,"
            f" {log.count('Traceback')} tracebacks, token shown {log.count(secret)}x"
        )
    return "; ".join(results)


async def file_modes(ctx: Ctx) -> str:
    folder = scratch(ctx, "modes")
    os.umask(0o022)  # as a shell would start it
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox)
        try:
            await answer_with_a_phrase(client, 882001)
            await answer_with_a_phrase(client, 882002)
            await answer_with_a_phrase(client, 882003)
            coordinator = await client.user(COORDINATOR)
            await coordinator.send("/digest")
            await coordinator.expect("digest", timeout=60)
            await asyncio.sleep(2)
        finally:
            await bot.kill(signal.SIGTERM)
            await bot.ensure_stopped()
    written = [
        p for p in folder.rglob("*") if p.name not in ("example.toml", "bot.log", "everystage.toml")
    ]
    open_to_others = [p for p in written if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    return f"{len(open_to_others)} of {len(written)} files and folders readable by others"


# ---------------------------------------------------------------------------------------------
# Authorisation and hostile input.


async def wrong_group(ctx: Ctx) -> str:
    folder = scratch(ctx, "group")
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox)
        try:
            await answer_with_a_phrase(client, 883001)
            await client.user(COORDINATOR)
            group = await client.group(-1003330001, "Drop-in regulars", added_by=COORDINATOR)
            await group.send(COORDINATOR, "/stats")
            await group.send(COORDINATOR, "/digest")
            await asyncio.sleep(8)
            chat = sandbox.world.chats[group.chat_id]
            posted = [
                m
                for m in chat.messages.values()
                if m.get("from", {}).get("is_bot") and m.get("chat", {}).get("id") == group.chat_id
            ]
            project = [
                m
                for m in posted
                if "document" in m or "Riverside" in (m.get("text") or "") or "photo" in m
            ]
        finally:
            await bot.ensure_stopped()
    return f"{len(project)} of {len(posted)} bot messages there carry project data"


async def forged_consent(ctx: Ctx) -> str:
    folder = scratch(ctx, "forged")
    group_id = -1004440001
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox)
        try:
            await client.user(884001, "Member")
            await client.group(group_id, "Hangout", added_by=884001)
            member = {"id": 884001, "is_bot": False, "first_name": "Member"}
            bot_message = {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": group_id, "type": "group", "title": "Hangout"},
                "from": {"id": 1, "is_bot": True, "first_name": "Everystage"},
                "text": "forged",
            }
            for data in ("consent:yes:1", "a:1:c:3", "a:2:c:1"):
                sandbox.world.inject_update(
                    {
                        "callback_query": {
                            "id": str(random.getrandbits(40)),
                            "from": member,
                            "message": bot_message,
                            "chat_instance": "1",
                            "data": data,
                        }
                    }
                )
                await asyncio.sleep(1.0)
            await asyncio.sleep(2)
        finally:
            await bot.ensure_stopped()
    groups = _count(bot.database, "SELECT count(*) FROM participants WHERE chat_id < 0")
    answers = _count(
        bot.database,
        "SELECT count(*) FROM answers a JOIN participants p ON p.id = a.participant_id"
        " WHERE p.chat_id < 0",
    )
    return f"{groups} group(s) became participants; {answers} answers stored from a group"


async def big_voice(ctx: Ctx) -> str:
    folder = scratch(ctx, "voice")
    async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
        bot = await example_bot(ctx, folder, sandbox)
        try:
            user = await client.user(885001)
            await user.send("/start")
            await user.expect("Is that OK with you?", timeout=30)
            await user.press("✅ Yes, I agree")
            await user.expect("How has your week been?")
            await user.press("2")
            await user.expect("What made it hard?")
            sandbox.reset_log()
            rss_before = _rss_peak(bot)
            await user.send_voice(b"OggS pretend this is long", file_size=105 * 1024 * 1024)
            await asyncio.sleep(3)
            rss_after = _rss_peak(bot)
            replies = bot_texts(sandbox, 885001)[-2:]
        finally:
            await bot.ensure_stopped()
    get_files = sum(1 for r in sandbox.requests if r["method"] == "getFile")
    kind = "refused kindly" if any("too big" in r for r in replies) else "no kind refusal"
    grown = (rss_after - rss_before) if rss_before and rss_after else 0
    return f"{kind}; {get_files} getFile calls; bot peak RSS +{grown / 1024:.0f} MiB"


def _rss_peak(bot: BotProcess) -> int:
    """The bot process's peak resident memory in KiB (VmHWM)."""
    if bot.process is None:
        return 0
    try:
        status = Path(f"/proc/{bot.process.pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------------------------
# check-config on generated configurations.

CHECK_MANY = """
import sys, traceback
from pathlib import Path
from bot.cli import main
crashes = 0
for path in sorted(Path(sys.argv[1]).glob("*.toml")):
    try:
        code = main(["check-config", "--config", str(path)])
    except SystemExit as exc:
        code = exc.code
    except Exception:
        crashes += 1
        continue
    if code not in (0, 2):
        crashes += 1
print(crashes)
"""


def generated_configs(folder: Path, count: int, seed: int = 806) -> None:
    """``count`` configs: the example with random values put at random places."""
    rng = random.Random(seed)
    base = tomllib.loads(EXAMPLE.read_text())
    values: list[Any] = [
        [],
        ["a", ["b"]],
        {"x": 1},
        [{"kind": "scale"}],
        "",
        "text",
        0,
        -1,
        10**30,
        1.5,
        True,
        [[1, 2], [3]],
        {"kind": ["choice"]},
        [None],
    ]
    paths = list(_paths(base))
    for number in range(count):
        data = _fresh(base)
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(paths)
            node: Any = data
            try:
                for part in parents:
                    node = node[part]
                node[last] = _fresh(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change in this config replaced that branch
        (folder / f"config-{number:04}.toml").write_text(_toml(data))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Any:
    """Every key path in a parsed TOML document (each a place a value can be put)."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        yield (*prefix, key)
        if isinstance(child, dict | list):
            yield from _paths(child, (*prefix, key))


def _fresh(value: Any) -> Any:
    """A copy, so a value put in two places never ends up inside itself."""
    return json.loads(json.dumps(value))


def _toml(data: dict[str, Any]) -> str:
    """Data as TOML (inline tables; None as an empty list)."""

    def value(v: Any) -> str:
        if v is None:
            return "[]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(str(k))} = {value(x)}" for k, x in v.items()) + "}"

    return "".join(f"{json.dumps(str(k))} = {value(v)}\n" for k, v in data.items())


async def configs(ctx: Ctx) -> str:
    folder = scratch(ctx, "configs")
    count = 200 if ctx.quick else 806
    generated_configs(folder, count)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHECK_MANY,
        str(folder),
        cwd=ctx.src,
        env={**os.environ, "PYTHONPATH": str(ctx.src)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    crashes = out.decode().strip().splitlines()[-1] if out.strip() else "?"
    return f"{crashes} tracebacks in {count} configs"


# ---------------------------------------------------------------------------------------------

ROWS = (
    Fault(
        "burst",
        "kill -9 1.5 s into a burst of 200 answers (3 rounds)",
        "349 of 600 lost; 94 stored, never got the next question",
        "0 lost, 0 stuck",
        burst,
    ),
    Fault(
        "random",
        "kill -9 at random moments, 50 people, 20 kills",
        "6 lost; 265 stored without a next question",
        "0 lost, 0 stuck",
        random_kills,
    ),
    Fault(
        "5xx",
        "10% 5xx on sendMessage/editMessageText, no crash",
        "18% of answers never got their next question",
        "0 stuck",
        five_xx,
    ),
    Fault(
        "malformed",
        "malformed updates (no date; entities not a list; poll/poll answer without ids)",
        "bot stops for everyone; ~330 getUpdates/s; log ~1 MB/s with names and text",
        "skipped and recorded; everyone served; nothing personal logged",
        malformed,
    ),
    Fault(
        "lost-replies",
        "nudge delivered, reply lost (502, dropped, slower than the timeout)",
        "57 of 300 got duplicates, up to 5 copies",
        "at most one extra copy, ambiguity recorded",
        lost_replies,
    ),
    Fault(
        "mid-broadcast",
        "kill -9 twice mid-broadcast to 300",
        "62 never got the nudge; lost outbox messages marked sent",
        "0 lost",
        kill_mid_broadcast,
    ),
    Fault(
        "erasure",
        "/delete",
        "quotes stay in digests/*.html and .md",
        "the words gone from every file",
        erasure,
    ),
    Fault(
        "debug",
        'logging.level = "DEBUG"',
        "every SQL statement with answers and chat ids",
        "no text, ids or names",
        debug_logs,
    ),
    Fault(
        "start",
        "a revoked token (401) or a wrong api_base_url (404)",
        "a traceback with the full token, twice per start",
        "one clear line, no token, non-zero exit",
        start_problems,
    ),
    Fault(
        "modes",
        "file modes",
        "database, WAL, voice notes and digests 0644",
        "owner only",
        file_modes,
    ),
    Fault(
        "group",
        "a coordinator types /stats or /digest in an unrelated group",
        "the digest HTML, quotes included, posted there",
        "nothing of the project posted there",
        wrong_group,
    ),
    Fault(
        "forged",
        "a forged consent:yes:1 callback in a group",
        "the group becomes a participant; members' presses stored",
        "participant callbacks only in private chats",
        forged_consent,
    ),
    Fault(
        "voice",
        "a 105 MB voice note",
        "downloaded in full (+395 MiB RSS)",
        "refused before download",
        big_voice,
    ),
    Fault(
        "configs",
        "806 generated configs to check-config",
        "22 tracebacks",
        "exit 0 or 2, never a traceback",
        configs,
    ),
)


async def run(opts: argparse.Namespace) -> int:
    """Run the chosen rows for each checkout and print the table."""
    # A bot killed mid-request drops its connection; the sandbox's server would log a traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    wanted = [r for r in ROWS if not opts.only or r.name in opts.only.split(",")]
    checkouts = [("this checkout", ROOT)]
    if opts.baseline:
        checkouts.insert(0, ("baseline", opts.baseline))
    results: dict[tuple[str, str], str] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="everystage-faults-") as tmp:
        for row in wanted:
            for label, src in checkouts:
                print(f"[{time.monotonic() - started:5.0f}s] {row.name} ({label})...", flush=True)
                ctx = Ctx(src, Path(tmp) / label.replace(" ", "-"), opts.quick)
                try:
                    results[(row.name, label)] = await row.run(ctx)
                except Exception as exc:  # a row that breaks is reported, the rest still run
                    results[(row.name, label)] = f"could not measure: {type(exc).__name__}: {exc}"
    print()
    print(f"Everystage fault table (python -m bench.faults{' --quick' if opts.quick else ''})")
    for row in wanted:
        print()
        print(f"{row.fault}")
        print(f"  landed main (issue 9):  {row.measured_on_main}")
        for label, _ in checkouts:
            print(f"  {label + ':':23} {results[(row.name, label)]}")
        print(f"  target:                 {row.target}")
    print(f"\n(took {time.monotonic() - started:.0f}s)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller crowds, fewer kills")
    parser.add_argument("--only", help="comma-separated rows: " + ",".join(r.name for r in ROWS))
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help="also run each row against this checkout (e.g. a worktree of an older commit)",
    )
    opts = parser.parse_args(argv)
    if opts.baseline:
        opts.baseline = Path(opts.baseline).resolve()
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.faults."""
    raise SystemExit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
