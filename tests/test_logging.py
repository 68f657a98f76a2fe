"""No log line, at any level, carries what people wrote, who they are, their chat id or the token.

Unit tests feed the formatter records shaped exactly as python-telegram-bot, httpx, aiosqlite
and our own code emit them; the sweeps run the real bot at DEBUG (in-process, then as the
`everystage run` process) through a whole journey and search everything it logged.
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Chat, Message, Update, User
from telegram.error import BadRequest, ChatMigrated, InvalidToken

from bot.logs import RedactingFormatter, RedactTokens, is_ours, redact, setup_logging
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.sandbox.errors import CHAT_NOT_FOUND, ApiError
from bot.sandbox.params import Params
from bot.sandbox.testing import TEST_TOKEN
from bot.settings import Settings
from tests.conftest import EXAMPLE, ROOT, join, running, tap

CHAT_ID = 731942865
GROUP_ID = -1001736254190
FIRST, LAST, USERNAME = "Perpetua", "Quillfeather", "quill_perpetua_77"
PHRASE = "my landlord Ignatius shouted at me"
VOICE = b"OggS\x00Marmoset-voice-note-4471"
# Shaped like a real token (35-character secret) but never configured: only its shape gives it
# away, so the pattern scrub is what removes it.
STRAY_TOKEN = "5512345678:AAHk2Qf7vZ9xYw3LmNpRsTuVbCdEfGhIjKl"
SECRET = TEST_TOKEN.split(":")[1]
WRONG_TOKEN = "7000000002:not-the-sandbox-token-xyz"

SENSITIVE = (FIRST, LAST, USERNAME, "Ignatius", "landlord", str(CHAT_ID), "Marmoset")
TOKENS = (TEST_TOKEN, SECRET, STRAY_TOKEN, STRAY_TOKEN.split(":")[1])
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.MULTILINE)


def assert_clean(text: str, *extra: str) -> None:
    """None of the sensitive strings (or the extra ones) is in text, in any case."""
    lowered = text.lower()
    for secret in (*SENSITIVE, *TOKENS, *extra):
        assert secret.lower() not in lowered, f"{secret!r} was logged:\n{text}"


@contextmanager
def capturing(level: str = "DEBUG", token: str | None = TEST_TOKEN) -> Iterator[io.StringIO]:
    """setup_logging() writing into a StringIO; the logging setup is restored afterwards."""
    root = logging.getLogger()
    names = ("telegram", "httpx", "httpcore", "apscheduler", "psycopg")
    saved = (
        list(root.handlers),
        root.level,
        {name: logging.getLogger(name).level for name in names},
        (sys.excepthook, threading.excepthook, sys.unraisablehook),
        logging.raiseExceptions,
    )
    stream = io.StringIO()
    handler = setup_logging(level, token, stream=stream)
    try:
        yield stream
    finally:
        handlers, root_level, levels, hooks, raise_exceptions = saved
        root.removeHandler(handler)
        for old in handlers:
            root.addHandler(old)
        root.setLevel(root_level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
        sys.excepthook, threading.excepthook, sys.unraisablehook = hooks
        logging.raiseExceptions = raise_exceptions


@contextmanager
def raw_copy() -> Iterator[io.StringIO]:
    """Everything logged, formatted the stdlib way: shows what the redaction is up against."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # First in line, so the stdlib formats (and caches exc_text on) each record before ours.
    logging.getLogger().handlers.insert(0, handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


def an_update(update_id: int = 42) -> Update:
    person = User(CHAT_ID, FIRST, is_bot=False, last_name=LAST, username=USERNAME)
    chat = Chat(CHAT_ID, Chat.PRIVATE, first_name=FIRST, last_name=LAST, username=USERNAME)
    message = Message(1, datetime.now(UTC), chat, from_user=person, text=PHRASE)
    return Update(update_id, message=message)


def raw_update(update_id: int = 43) -> dict[str, Any]:
    person = {"id": CHAT_ID, "is_bot": False, "first_name": FIRST, "username": USERNAME}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 7,
            "date": 1764485726,
            "chat": {"id": CHAT_ID, "type": "private", "first_name": FIRST, "last_name": LAST},
            "from": person,
            "text": PHRASE,
        },
    }


def fail_with(exc: BaseException) -> BaseException:
    """exc, raised and caught, so it carries a traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def _lookup(chat_id: int) -> None:
    raise LookupError(f"no participant for chat {chat_id}")


def failure_with_content() -> BaseException:
    """A ValueError quoting an answer, caused by a LookupError naming a chat id."""
    try:
        try:
            _lookup(CHAT_ID)
        except LookupError as exc:
            raise ValueError(f"could not store the answer {PHRASE!r} for {FIRST}") from exc
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


# -- unit: records as each library emits them ------------------------------------------------


def test_library_records_are_rendered_from_their_templates_only() -> None:
    with capturing("DEBUG") as stream, raw_copy() as raw:
        logging.getLogger("telegram.ext.Application").debug("Processing update %s", an_update())
        parse_error = fail_with(KeyError("from"))
        logging.getLogger("telegram.Bot").critical(
            "Error while parsing updates! Received data was %r",
            [raw_update()],
            exc_info=parse_error,
        )
        url = httpx.URL(f"https://api.telegram.org/bot{TEST_TOKEN}/sendMessage")
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK"
        )
        logging.getLogger("httpx").info(
            'HTTP Request: %s %s "%s %d %s"',
            "GET",
            httpx.URL(f"https://api.telegram.org/file/bot{STRAY_TOKEN}/voice/file_3.oga"),
            "HTTP/1.1",
            200,
            "OK",
        )
        connection = sqlite3.connect(":memory:")
        try:
            statement = functools.partial(
                connection.execute,
                "INSERT INTO answers (chat_id, question_id, value) VALUES (?, ?, ?)",
                (CHAT_ID, "hard-part", PHRASE),
            )
            logging.getLogger("aiosqlite").debug("executing %s", statement)
            logging.getLogger("aiosqlite").debug("operation %s completed", statement)
        finally:
            connection.close()
        logging.getLogger("aiosqlite").debug(
            "returning exception %s", sqlite3.IntegrityError(f"value {PHRASE}")
        )
        logging.getLogger("apscheduler.executors.default").info(
            'Running job "%s" (scheduled at %s)', f"nudge for {FIRST}", datetime.now(UTC)
        )
        # asyncio and httpcore write values into the message itself, without arguments.
        logging.getLogger("asyncio").error(
            f"Exception in callback set_result(<Future pending>, ({CHAT_ID}, {PHRASE!r}))\n"
            f"handle: <Handle set_result(<Future pending>, ({CHAT_ID}, {PHRASE!r}))>",
            exc_info=fail_with(sqlite3.InterfaceError("bad parameter")),
        )
        logging.getLogger("asyncio").error(
            "Task exception was never retrieved\n"
            f"future: <Task finished coro=<on_text()> exception=ValueError({FIRST!r})>"
        )
        logging.getLogger("httpcore.http11").debug(
            f"receive_response_headers.complete return_value=(b'HTTP/1.1', 200, {FIRST!r})"
        )
    logs = stream.getvalue()

    # Without the redaction every one of these would have been written.
    for leaked in (FIRST, USERNAME, PHRASE, str(CHAT_ID), TEST_TOKEN, STRAY_TOKEN):
        assert leaked in raw.getvalue()
    assert_clean(logs)
    assert "DEBUG telegram.ext.Application: Processing update …" in logs
    assert "CRITICAL telegram.Bot: Error while parsing updates! Received data was …" in logs
    assert "Traceback (most recent call last):" in logs and "\nKeyError: <message hidden>" in logs
    assert 'INFO httpx: HTTP Request: … … "… … …"' in logs
    assert "DEBUG aiosqlite: executing …" in logs
    assert "DEBUG aiosqlite: returning exception …" in logs
    assert 'INFO apscheduler.executors.default: Running job "…" (scheduled at …)' in logs
    assert "ERROR asyncio: Exception in callback set_result …\nTraceback" in logs
    assert "\nsqlite3.InterfaceError: bad parameter\n" in logs
    assert "ERROR asyncio: Task exception was never retrieved\n" in logs
    assert "DEBUG httpcore.http11: receive_response_headers.complete …\n" in logs
    assert len(TIMESTAMP.findall(logs)) == 11


def test_our_records_keep_their_numbers_and_lose_exception_messages() -> None:
    log = logging.getLogger("bot.handlers.checkin")
    with capturing("DEBUG") as stream, raw_copy() as raw:
        log.info("update %d skipped", 42)
        logging.getLogger("storage.db").info("applied migration %d: %s", 3, "nudges")
        log.info("nudges: %d sent in %.2f s, %d deferred (12345 checked)", 17, 0.25, 2)
        log.error(
            "error while handling an update: %s", "ValueError", exc_info=failure_with_content()
        )
        log.warning("could not store %s", ValueError(f"{FIRST} said {PHRASE}"))
        log.warning("posting to %s failed", f"https://api.telegram.org/bot{STRAY_TOKEN}/getMe")
        log.info("alert for chat %s and group %d", CHAT_ID, GROUP_ID)
    logs = stream.getvalue()

    assert PHRASE in raw.getvalue()  # the stdlib's cached traceback had it; ours ignored it
    assert_clean(logs, str(GROUP_ID), str(GROUP_ID)[1:])
    lines = logs.splitlines()
    assert lines[0].endswith(" INFO bot.handlers.checkin: update 42 skipped")
    assert lines[1].endswith(" INFO storage.db: applied migration 3: nudges")
    assert lines[2].endswith(": nudges: 17 sent in 0.25 s, 2 deferred (12345 checked)")
    assert "ERROR bot.handlers.checkin: error while handling an update: ValueError" in logs
    # The chain is there, cause first, with frames and types, without the messages.
    cause = logs.index("LookupError: <message hidden>")
    effect = logs.index("ValueError: <message hidden>")
    assert cause < logs.index("was the direct cause of the following exception") < effect
    assert 'in _lookup\n    raise LookupError(f"no participant for chat {chat_id}")' in logs
    assert "in failure_with_content" in logs
    assert "could not store ValueError (<message hidden>)" in logs
    assert "posting to https://api.telegram.org/bot<token>/getMe failed" in logs
    assert "alert for chat <id> and group <id>" in logs
    assert len(TIMESTAMP.findall(logs)) == 7


def test_telegram_errors_keep_their_text_without_ids_or_tokens() -> None:
    log = logging.getLogger("bot.app")
    with capturing("INFO") as stream:
        log.error("send failed", exc_info=fail_with(BadRequest("Chat not found")))
        log.error("send failed", exc_info=fail_with(ChatMigrated(GROUP_ID)))
        refused = InvalidToken(f"The token `{TEST_TOKEN}` was rejected by the server.")
        log.error("start failed", exc_info=fail_with(refused))
        stray = InvalidToken(f"The token `{STRAY_TOKEN}` was rejected by the server.")
        log.error("start failed", exc_info=fail_with(stray))
        log.error(
            "query failed", exc_info=fail_with(sqlite3.OperationalError("database is locked"))
        )
        log.error("poll failed", exc_info=fail_with(TimeoutError("read timed out")))
        log.error("save failed", exc_info=fail_with(FileNotFoundError(2, "No such file", PHRASE)))
    logs = stream.getvalue()

    assert_clean(logs, str(GROUP_ID)[1:])
    assert "telegram.error.BadRequest: Chat not found" in logs
    assert "telegram.error.ChatMigrated: Group migrated to supergroup. New chat id: <id>" in logs
    assert logs.count("telegram.error.InvalidToken: The token `<token>` was rejected") == 2
    assert "sqlite3.OperationalError: database is locked" in logs
    assert "TimeoutError: read timed out" in logs
    assert "FileNotFoundError: [Errno 2] No such file\n" in logs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET /bot{STRAY_TOKEN}/getMe", "GET /bot<token>/getMe"),
        (f"GET /file/bot{STRAY_TOKEN}/voice/3.oga", "GET /file/bot<token>/voice/3.oga"),
        ("GET /bot5512345678%3AAAHk2Qf7vZ9x/getMe", "GET /bot<token>/getMe"),
        (f"token={STRAY_TOKEN}&x=1", "token=<token>&x=1"),
        (
            f"the configured {TEST_TOKEN}, its half {SECRET}",
            "the configured <token>, its half <token>",
        ),
        (f"chat {CHAT_ID}, group {GROUP_ID}, user 777000.", "chat <id>, group <id>, user <id>."),
        ("2026-11-30 06:55:26,123 INFO storage.db: applied migration 3", None),
        ("update 42 skipped after 0.25 s; 12345 checked; port 54321", None),
        ("ids inside words stay: abc1234567, 1234567abc, file_9876543", None),
    ],
)
def test_scrubs(text: str, expected: str | None) -> None:
    assert redact(text, TEST_TOKEN) == (text if expected is None else expected)


def test_ours_is_a_name_and_its_children() -> None:
    for name in ("bot", "bot.handlers.checkin", "storage.db", "conversations", "bench.fanout"):
        assert is_ours(name)
    assert is_ours("everystage")
    for name in ("botocore", "telegram.ext.Application", "aiosqlite", "root", "storagex"):
        assert not is_ours(name)


def test_redact_tokens_filter_keeps_the_template_for_the_formatter() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, "x.py", 1, "GET %s", (f"/bot{TEST_TOKEN}/getMe",), None
    )
    assert RedactTokens(TEST_TOKEN).filter(record)
    assert (record.msg, record.args) == ("GET %s", ("/bot<token>/getMe",))
    assert RedactingFormatter("%(message)s").format(record) == "GET …"


def test_odd_records_never_raise_and_never_show_their_arguments() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError(PHRASE)

        __repr__ = __str__

    class Loud(Exception):
        def __str__(self) -> str:
            raise RuntimeError(PHRASE)

    theirs, ours = logging.getLogger("somelib.worker"), logging.getLogger("bot.odd")
    with capturing("DEBUG") as stream:
        assert logging.raiseExceptions is False
        formatter = logging.getLogger().handlers[0].formatter
        assert isinstance(formatter, RedactingFormatter)
        # Someone else's arguments are never shown; ours are, so they get neutral ones here.
        for log, people in ((theirs, {"who": FIRST, "n": CHAT_ID}), (ours, {"who": "all", "n": 3})):
            log.info(Unprintable())
            log.info(ValueError(PHRASE))
            log.info("100%% of %(who)s in %(n)d chats", people)
            log.info("%d answers", PHRASE)  # a bad argument
            log.info("%s and %s", FIRST)  # too few arguments
            log.info("%y is not a conversion, %s is", FIRST)
            log.info("object %s", Unprintable())
            log.error("loud", exc_info=fail_with(Loud()))
            log.info("no exception", exc_info=(None, None, None))
        # A record whose time cannot be formatted: one safe fallback line.
        record = ours.makeRecord("bot.odd", logging.INFO, "x.py", 1, "%s", (PHRASE,), None)
        record.created = "not a time"  # type: ignore[assignment]
        assert formatter.format(record) == "INFO bot.odd: (a log record could not be formatted)"
        # A traceback rendered elsewhere (exc_text without exc_info): frames and types only.
        elsewhere = ours.makeRecord("telegram.x", logging.ERROR, "x.py", 1, "boom", (), None)
        elsewhere.exc_text = (
            "Traceback (most recent call last):\n"
            '  File "/app/bot/handlers/checkin.py", line 12, in on_text\n'
            "    await save(text)\n"
            f"ValueError: {PHRASE}\n  {FIRST}\n{USERNAME}"
        )
        rendered = formatter.format(elsewhere)
    logs = stream.getvalue()

    assert_clean(logs + rendered)
    assert len(TIMESTAMP.findall(logs)) == 18
    assert "INFO somelib.worker: <Unprintable>\n" in logs
    assert "INFO somelib.worker: <ValueError>\n" in logs
    assert "INFO somelib.worker: 100% of … in … chats\n" in logs
    assert "INFO somelib.worker: … answers\n" in logs
    assert "INFO somelib.worker: %y is not a conversion, … is\n" in logs
    assert "INFO bot.odd: <Unprintable>\n" in logs
    assert "INFO bot.odd: ValueError (<message hidden>)\n" in logs
    assert "INFO bot.odd: 100% of all in 3 chats\n" in logs
    assert "INFO bot.odd: … and …\n" in logs  # a broken call of ours: its template
    assert "INFO bot.odd: object …\n" in logs
    assert logs.count("<locals>.Loud\n") == 2  # its str() fails: the type alone
    assert rendered.endswith(
        '  File "/app/bot/handlers/checkin.py", line 12, in on_text\n'
        "    await save(text)\nValueError"
    )


def test_uncaught_exceptions_are_logged_through_the_redaction() -> None:
    def crash() -> None:
        raise ValueError(f"{FIRST} wrote {PHRASE}")

    with capturing("INFO") as stream:
        thread = threading.Thread(target=crash, name="worker-1")
        thread.start()
        thread.join()
        exc = fail_with(RuntimeError(f"chat {CHAT_ID}"))
        sys.excepthook(type(exc), exc, exc.__traceback__)
    logs = stream.getvalue()

    assert_clean(logs)
    assert "CRITICAL everystage: uncaught exception in thread worker-1" in logs
    assert "in crash\n" in logs and "\nValueError: <message hidden>" in logs
    assert "CRITICAL everystage: uncaught exception in the main thread" in logs
    assert "\nRuntimeError: <message hidden>" in logs


def test_noisy_libraries_are_quiet_below_debug_and_heard_at_debug() -> None:
    with capturing("INFO"):
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("httpcore").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("apscheduler").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("psycopg.pool").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("telegram").getEffectiveLevel() == logging.INFO
    with capturing("DEBUG"):
        for name in ("httpx", "httpcore", "apscheduler", "telegram", "aiosqlite", "psycopg"):
            assert logging.getLogger(name).getEffectiveLevel() == logging.DEBUG


# -- the real bot at DEBUG, in-process --------------------------------------------------------


async def test_a_whole_journey_at_debug_logs_nothing_personal(
    sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    refused: list[str] = []

    async def refuse_one_send(method: str, params: Params) -> None:
        # The first /mydata summary fails: the error handler logs a traceback.
        text = params.get_str("text") or ""
        if method == "sendMessage" and "what we keep" in text and not refused:
            refused.append(text)
            raise ApiError(400, CHAT_NOT_FOUND)

    sandbox.hooks.append(refuse_one_send)
    with capturing("DEBUG") as stream, raw_copy() as raw:
        async with running(settings):
            user = await client.user(CHAT_ID, FIRST, last_name=LAST, username=USERNAME)
            await full_check_in(user)

            await user.send("/mydata")
            await user.expect("Sorry, something went wrong")
            await user.send("/mydata")
            await user.expect("Here's what we keep about you")
            assert len(refused) == 1
            document = await user.wait_for_bot_message()
            assert document.document is not None

            await user.send("/delete")
            await user.expect("Are you sure?")
            await user.press("Yes, delete it all")
            await user.expect("Everything about you has been deleted")
    logs = stream.getvalue()

    for leaked in (FIRST, LAST, USERNAME, PHRASE, str(CHAT_ID), TEST_TOKEN):
        assert leaked in raw.getvalue()  # what an unredacted DEBUG log would have held
    assert_clean(logs)
    assert len(logs.splitlines()) > 300
    assert re.search(r"^\S+ \S+ DEBUG telegram\.", logs, re.MULTILINE)
    assert re.search(r"^\S+ \S+ (DEBUG|INFO) (httpx|httpcore)", logs, re.MULTILINE)
    if settings.storage.is_postgres:  # psycopg's pool says when it lends a connection
        assert re.search(r"^\S+ \S+ INFO psycopg\.pool: connection given by …", logs, re.M)
    else:
        assert re.search(r"^\S+ \S+ DEBUG aiosqlite: executing …", logs, re.MULTILINE)
    assert "DEBUG telegram.ext.Application: Processing update …" in logs
    assert "ERROR bot.handlers.other: error while handling an update: BadRequest" in logs
    assert "telegram.error.BadRequest: Chat not found" in logs
    assert "Traceback (most recent call last):" in logs


async def full_check_in(user: SandboxUser) -> None:
    """Consent, then every question: a scale, a typed answer, ticks, buttons, a voice note."""
    await join(user)
    await user.press("2")
    await user.expect("What made it hard?")
    await user.send(PHRASE)
    await user.expect("Which parts of the service")
    await tap(user, "☐ Meals")
    await user.press("Done ✔")
    await user.expect("Did staff listen")
    await user.press("Yes")
    await user.expect("change one thing first")
    await user.press("I'd rather not say")
    await user.expect("Anything else")
    await user.send_voice(VOICE, duration=3)
    await user.expect("Thank you")


# -- the real process ----------------------------------------------------------------------------


async def run_process(sandbox_url: str, tmp_path: Path, token: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "EVERYSTAGE_TELEGRAM__TOKEN": token,
        "EVERYSTAGE_TELEGRAM__API_BASE_URL": sandbox_url,
        "EVERYSTAGE_STORAGE__PATH": str(tmp_path / "process.db"),
        "EVERYSTAGE_STORAGE__FILES_DIR": str(tmp_path / "process-files"),
        "EVERYSTAGE_LOGGING__LEVEL": "DEBUG",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(EXAMPLE),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_everystage_run_at_debug_logs_nothing_personal(
    sandbox: Sandbox, client: SandboxClient, tmp_path: Path
) -> None:
    process = await run_process(sandbox.url, tmp_path, TEST_TOKEN)
    assert process.stderr is not None
    # Read while it runs: a DEBUG log fills the pipe long before the process ends.
    stderr = asyncio.ensure_future(process.stderr.read())
    try:
        user = await client.user(CHAT_ID, FIRST, last_name=LAST, username=USERNAME)
        await user.send("/start")
        await user.expect("Is that OK with you?", timeout=30)
        await user.press("✅ Yes, I agree")
        await user.expect("How has your week been?")
        await user.press("2")
        await user.expect("What made it hard?")
        await user.send(PHRASE)
        await user.expect("Which parts of the service")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    logs = (await stderr).decode()

    assert code == 0, logs[-3000:]
    assert_clean(logs)
    assert re.search(r"^\S+ \S+ DEBUG telegram\.", logs, re.MULTILINE)
    assert re.search(r"^\S+ \S+ DEBUG aiosqlite: executing …", logs, re.MULTILINE)
    assert "DEBUG telegram.ext.Application: Processing update …" in logs


async def test_a_wrong_token_is_reported_without_the_token(tmp_path: Path) -> None:
    async with Sandbox(token=TEST_TOKEN) as sandbox:
        process = await run_process(sandbox.url, tmp_path, WRONG_TOKEN)
        assert process.stderr is not None
        stderr = asyncio.ensure_future(process.stderr.read())
        try:
            code = await asyncio.wait_for(process.wait(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        logs = (await stderr).decode()

    assert code != 0, logs[-3000:]
    assert_clean(logs, WRONG_TOKEN, WRONG_TOKEN.split(":")[1])
    # However `run` reports it (one line, or a crash through sys.excepthook), it says why.
    assert re.search(r"(ERROR|CRITICAL) everystage: .*(rejected|InvalidToken)", logs), logs


async def test_a_crash_goes_through_the_redaction(tmp_path: Path) -> None:
    crash = (
        "from bot.logs import setup_logging\n"
        f"setup_logging('INFO', {TEST_TOKEN!r})\n"
        "def handle(text, chat_id):\n"
        "    raise RuntimeError(f'{text} in chat {chat_id}')\n"
        "try:\n"
        f"    handle({PHRASE!r}, {CHAT_ID})\n"
        "except RuntimeError as exc:\n"
        f"    raise OSError('token ' + {TEST_TOKEN!r}) from exc\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        crash,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    logs = stderr.decode()

    assert process.returncode == 1
    # The -c source itself (with the values in it) is not available to tracebacks.
    assert_clean(logs)
    assert "CRITICAL everystage: uncaught exception in the main thread" in logs
    assert "line 4, in handle\nRuntimeError: <message hidden>\n" in logs
    assert logs.rstrip().endswith("\nOSError: <message hidden>")
