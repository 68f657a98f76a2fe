"""Shared fixtures: a real sandbox over HTTP and the real Everystage Application polling it.

Every test that opens the bot's database (through ``make_settings``, ``settings``, ``bot`` or
``database``) runs once per backend, SQLite and PostgreSQL, as the ``backend`` parameter says
(``test_x[sqlite]``, ``test_x[postgresql]``), like aiogram's storage tests. Mark a test
``@pytest.mark.sqlite_only("why")`` to run it on SQLite alone (``postgresql_only``: the
reverse, for what only PostgreSQL has, like its erasure scrub). PostgreSQL needs a server
(``tests/postgres.py``): without one those runs are skipped, saying why (failed in CI).
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot import budget
from bot.app import build_application, serving
from bot.sandbox import Sandbox, SandboxClient, SandboxUser, spec_available
from bot.sandbox.testing import TEST_TOKEN
from bot.settings import STORAGE_PASSWORD_ENV, Settings, load_settings
from storage.db import Database
from tests import postgres

ROOT = Path(__file__).resolve().parent.parent
# The example as it ships: English, Polish, Romanian and Arabic (tests/test_languages.py, the
# demo's and check-config's tests use it as it is).
SHIPPED_EXAMPLE = ROOT / "config.example.toml"
_OTHER_LANGUAGE = re.compile(
    r'(?ms)^[ ]*[\w-]+\.(?!en )[a-z-]+ = (?:""".*?"""|"(?:[^"\\\n]|\\.)*"|\[[^\n]*\])\n'
)


def english_only(text: str) -> str:
    """The example's TOML with its English texts only, in the same layout: ``text.en = ...``
    becomes ``text = ...``, the other languages' lines and ``languages`` go."""
    text = re.sub(r"(?m)^languages = .*\n", "", text)
    return re.sub(r"(?m)^([ ]*[\w-]+)\.en = ", r"\1 = ", _OTHER_LANGUAGE.sub("", text))


def _english_example() -> Path:
    """The example in English alone, for the many tests that edit its English lines or that
    are about something other than languages; beside the shipped one, so relative paths hold."""
    path = ROOT / ".config.example.en.toml"
    text = english_only(SHIPPED_EXAMPLE.read_text(encoding="utf-8"))
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


EXAMPLE = _english_example()


@dataclass
class SpecLedger:
    """Every Bot API request the suite made, and any that broke the official spec."""

    requests: int = 0
    methods: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)


LEDGER = SpecLedger()


@pytest.fixture(autouse=True)
def _chats_unpaced(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot in these tests paces each chat (and group) as the sandbox does by default: not
    at all. At Telegram's 1 message a second per chat every answer, two messages, would wait
    about a second, and the suite would spend most of its time waiting. The overall rate stays
    Telegram's. The budget's own tests set the limits they test (tests/test_budget.py)."""
    monkeypatch.setattr(
        budget,
        "DEFAULT_LIMITS",
        budget.Limits(
            chat_per_second=1000, chat_burst=1000, group_per_minute=60_000, group_burst=1000
        ),
    )


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox on a free port; fails the test if the bot broke the Bot API spec."""
    async with Sandbox() as server:
        yield server
        LEDGER.requests += len(server.requests)
        LEDGER.methods |= {r["method"] for r in server.requests}
        LEDGER.violations.extend(server.violations)
        assert not server.violations, server.violations
        if any(r["method"] == "setMyCommands" for r in server.requests):  # Everystage ran
            assert unknown_buttons(server) == [], "buttons not in bot/callbacks.py's table"


def unknown_buttons(server: Sandbox) -> list[str]:
    """Callback data on the bot's messages that bot.callbacks.parse does not recognise."""
    from bot.callbacks import parse

    found = []
    for chat in server.world.chats.values():
        for message in chat.messages.values():
            if not message.get("from", {}).get("is_bot"):
                continue
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                found += [
                    b["callback_data"]
                    for b in row
                    if "callback_data" in b and parse(b["callback_data"]) is None
                ]
    return found


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[SandboxClient]:
    """The participants' side of the sandbox."""
    async with SandboxClient(sandbox.url) as control:
        yield control


# -- the database backends ---------------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    """The ``sqlite_only`` and ``postgresql_only`` markers."""
    config.addinivalue_line(
        "markers", "sqlite_only(reason): run this test on the SQLite backend only, for reason"
    )
    config.addinivalue_line(
        "markers", "postgresql_only(reason): run this test on PostgreSQL only, for reason"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that (through its fixtures) opens the bot's database runs on each backend."""
    if "backend" in metafunc.fixturenames:
        names = list(BACKENDS)
        if metafunc.definition.get_closest_marker("sqlite_only"):
            names = ["sqlite"]
        elif metafunc.definition.get_closest_marker("postgresql_only"):
            names = ["postgresql"]
        metafunc.parametrize("backend", names, indirect=True)


@dataclass(frozen=True)
class Backend:
    """Where this test's database is: a SQLite file, or a fresh PostgreSQL database."""

    name: str
    url: str | None = None  # PostgreSQL: the test's own database (no password)
    password: str | None = None

    @property
    def postgres(self) -> bool:
        """Whether this is the PostgreSQL run."""
        return self.name == "postgresql"

    def target(self, tmp_path: Path) -> str | Path:
        """What ``Database.open`` takes for this backend."""
        return self.url if self.url is not None else tmp_path / "test.db"


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The backend this run of the test uses (a parameter: see pytest_generate_tests)."""
    name = getattr(request, "param", "sqlite")
    if name != "postgresql":
        yield Backend(name)
        return
    server = postgres.server()
    fresh = server.fresh()
    try:
        yield Backend(name, fresh.url, fresh.password)
    finally:
        postgres.forget(fresh.url)
        server.drop(fresh.name)


@pytest.fixture
async def database(backend: Backend, tmp_path: Path) -> AsyncIterator[Database]:
    """The bot's database, open, on this run's backend (schema in place)."""
    db = await Database.open(backend.target(tmp_path), password=backend.password)
    yield db
    await db.close()


@pytest.fixture
def make_settings(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, backend: Backend
) -> Callable[..., Settings]:
    """Settings from config.example.toml, pointed at the sandbox and this run's database."""
    monkeypatch.setenv("EVERYSTAGE_TELEGRAM__TOKEN", TEST_TOKEN)
    monkeypatch.setenv("EVERYSTAGE_TELEGRAM__API_BASE_URL", sandbox.url)
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))
    monkeypatch.setenv("EVERYSTAGE_STORAGE__FILES_DIR", str(tmp_path / "files"))
    if backend.url is not None:
        monkeypatch.setenv("EVERYSTAGE_STORAGE__URL", backend.url)
        if backend.password is not None:
            monkeypatch.setenv(STORAGE_PASSWORD_ENV, backend.password)

    def make(config: Path = EXAMPLE, **env: str) -> Settings:
        for key, value in env.items():
            monkeypatch.setenv(f"EVERYSTAGE_{key.upper()}", value)
        return load_settings(config)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """The example project, as a coordinator would configure it."""
    return make_settings()


@asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[Any]:
    """The real Everystage Application, polling the sandbox until the block ends."""
    async with serving(build_application(settings, **kwargs), poll_timeout=5) as app:
        yield app


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[Any]:
    """Everystage running against the sandbox."""
    async with running(settings) as app:
        yield app


def rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the bot's database directly, as an auditor would (a connection of its own;
    synchronous, so it may be called inside async tests). SQL as storage/ writes it; a
    statement that writes is committed (and returns [])."""
    storage = settings.storage
    if not storage.is_postgres:
        with sqlite3.connect(storage.path) as conn:
            return conn.execute(sql, params).fetchall()
    import psycopg

    from storage.dialect import postgres_params, postgres_sql

    text, names = postgres_sql(sql)
    conn = postgres.reader(storage.database_url, storage.database_password)
    with psycopg.RawCursor(conn) as cursor:
        cursor.execute(text, postgres_params(names, params))
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def raw_database_bytes(settings: Settings) -> bytes | postgres.DataDirectory:
    """Every byte the database keeps on disk, searched with ``b"..." in``: SQLite's file and
    its WAL; on PostgreSQL every file under the server's data directory (the test is skipped,
    saying why, when this process cannot read it)."""
    if settings.storage.is_postgres:
        return postgres.data_directory()
    path = Path(settings.storage.path)
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def reaches_disk(settings: Settings, needle: bytes) -> bool:
    """Whether ``needle`` is in the database's files: to check, before an erasure, that the
    words it must remove were there (on PostgreSQL, after a CHECKPOINT: DataDirectory.holds)."""
    stored = raw_database_bytes(settings)
    return stored.holds(needle) if isinstance(stored, postgres.DataDirectory) else needle in stored


async def everystage(*args: str, **env: str) -> tuple[int, str, str]:
    """Run the real `everystage` command (env added to this process's); its exit status,
    stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def join(user: SandboxUser) -> None:
    """A participant sends /start, agrees, and sees the first question of the check-in."""
    await user.send("/start")
    await user.expect("Is that OK with you?")
    await user.press("✅ Yes, I agree")
    await user.expect("How has your week been?")


async def privacy_notice(user: SandboxUser) -> tuple[str, list[Any]]:
    """/privacy's notice as one text (it comes a phone screen at a time), and its messages."""
    messages = [await user.expect("How we use your information")]
    while "Your rights" not in (messages[-1].text or ""):
        messages.append(await user.expect(""))
    return "\n\n".join(m.text or "" for m in messages), messages


async def tap(user: SandboxUser, label: str) -> None:
    """Press a button and wait for the bot to react on screen, as a person would."""
    await user.press(label)
    await user.wait_for_bot_message()


requires_spec = pytest.mark.skipif(
    not spec_available(),
    reason="the Bot API spec (../shared/telegram-bot-api/api.json or $EVERYSTAGE_BOTAPI_SPEC) "
    "is not on this machine",
)


async def settle(sandbox: Sandbox, app: Any, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until the bot has fully handled every update sent so far.

    First the sandbox has no pending (unconfirmed) updates: the bot has fetched them all and
    asked for the next ones, so each is on ``app.update_queue``; then the queue is joined:
    python-telegram-bot calls ``task_done`` once an update has been fully processed.
    """
    import asyncio  # here, so this helper stays one appended block

    async with asyncio.timeout(timeout):
        # Polled: the sandbox notifies nobody when getUpdates confirms (drops) updates.
        while sandbox.world.updates:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        await app.update_queue.join()


# -- the Bot API spec, checked once the whole suite has run -------------------------------------

# Methods the suite must exercise for "every request conformed" to mean something.
SPEC_EXERCISED = {
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "sendDocument",
    "sendVoice",
    "getFile",
}


def spec_problems(ran_everything: bool) -> list[str]:
    """What the suite's Bot API requests say about the spec (empty when all is well)."""
    if not spec_available() or not LEDGER.requests:
        return []
    problems = [f"a request broke the Bot API spec: {v}" for v in LEDGER.violations]
    missing = SPEC_EXERCISED - LEDGER.methods
    if ran_everything and missing:
        problems.append(f"the suite never exercised {sorted(missing)}")
    return problems


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any request the bot made broke the spec, or (when the whole suite ran)
    if some method the bot uses was never exercised, so the check meant little. Drop the
    PostgreSQL template database."""
    postgres.close()
    here = Path(__file__).parent
    collected = {Path(str(item.path)) for item in session.items}
    ran_everything = set(here.glob("test_*.py")) <= collected
    problems = spec_problems(ran_everything)
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "Bot API spec", red=True)
            for problem in problems:
                reporter.write_line(problem)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
