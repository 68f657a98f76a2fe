"""Chaos harness: the real ``everystage run`` process against the sandbox, killed and restarted.

Shared by the CI chaos test (tests/test_chaos.py) and the fault table (bench/faults.py).

* :class:`BotProcess` starts ``python -m bot.cli run`` as a child process pointed at a sandbox
  (any checkout's source: ``src``), and stops it with SIGKILL or SIGTERM.
* :class:`Crowd` is N simulated participants acting on the sandbox's world directly (no HTTP
  round trip, so thousands of presses cost little): each sends /start, agrees, and answers every
  question of a button-only check-in by pressing the newest message that asks it, choosing a
  known option, and never writes anything else (so nobody is unstuck by their own message).
* :func:`verify` reads the bot's database afterwards, as an auditor would, and counts answers
  lost (a press Telegram confirmed to the bot, not stored), doubled, or wrong, and people stuck
  (never got their next question).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bots import CHOICE, CLOSING, SCALE, YESNO, bench_config, kind_of
from bot.sandbox import Sandbox
from bot.sandbox.formatting import command_entities
from bot.sandbox.testing import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
_QUESTION = re.compile(r"Question (\d+) of \d+")
OPTIONS = {"scale": SCALE, "yesno": YESNO, "choice": CHOICE}


def expected_answer(user_index: int, question: int) -> str:
    """What participant ``user_index`` chooses at question ``question`` (0-based)."""
    options = OPTIONS[kind_of(question)]
    return options[(user_index + question) % len(options)]


def _marker(question: int, total: int) -> str:
    """How the message asking ``question`` (0-based) says which it is."""
    return f"Question {question + 1} of {total}\n"


def stored_value(question: int, label: str) -> Any:
    """The value Everystage stores for a button label (scale answers are numbers)."""
    if kind_of(question) == "scale":
        return int(label)
    if kind_of(question) == "yesno":
        return label.lower()
    return label


# ---------------------------------------------------------------------------------------------
# The bot as a process.


@dataclass
class BotProcess:
    """``everystage run`` as a child process (``src``: the checkout whose code runs)."""

    sandbox_url: str
    workdir: Path
    config: Path
    src: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    log: Path | None = None

    @property
    def database(self) -> Path:
        """The bot's SQLite file."""
        return self.workdir / "everystage.db"

    async def start(self) -> None:
        """Start the bot (its stderr goes to ``log``, appended across restarts)."""
        env = {
            **os.environ,
            "PYTHONPATH": str(self.src),
            "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
            "EVERYSTAGE_TELEGRAM__API_BASE_URL": self.sandbox_url,
            "EVERYSTAGE_STORAGE__PATH": str(self.database),
            "EVERYSTAGE_STORAGE__FILES_DIR": str(self.workdir / "files"),
            **self.env,
        }
        self.log = self.workdir / "bot.log"
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "--config",
                str(self.config),
                cwd=self.src,
                env=env,
                stdout=sink,
                stderr=sink,
            )
        self.starts += 1

    async def kill(self, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Send ``sig`` and wait for the process to end; its exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def ensure_stopped(self) -> None:
        """Kill it if it still runs (cleanup)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


def write_config(workdir: Path, questions: int, extra: str = "") -> Path:
    """The benchmark's button-only check-in, as a config file for the process."""
    text = bench_config(questions).replace('path = "bench.db"', 'path = "everystage.db"')
    text = text.replace('[logging]\nlevel = "WARNING"', '[logging]\nlevel = "INFO"')
    path = workdir / "everystage.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# The participants.


@dataclass
class Person:
    """One simulated participant and how far they got."""

    index: int
    user_id: int
    step: int = -1  # -1 before consent, then the 0-based question waited for; K when done
    presses: list[tuple[int, int]] = field(default_factory=list)  # (question, update_id)
    answered: set[int] = field(default_factory=set)
    last_progress: float = 0.0


class Crowd:
    """Participants that go through the check-in as fast as its questions reach them."""

    def __init__(self, sandbox: Sandbox, n: int, questions: int, first_id: int = 610000) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.questions = questions
        self.people = [Person(i, first_id + i) for i in range(n)]
        self._changed = asyncio.Event()
        self.world.listeners.append(self._changed.set)

    def start(self) -> None:
        """Everyone sends /start (the updates wait in the sandbox until a bot fetches them)."""
        now = time.monotonic()
        for person in self.people:
            self.world.ensure_user(person.user_id, f"Chaos{person.index}")
            text = "/start"
            self.world.user_message(
                person.user_id, {"text": text, "entities": command_entities(text)}
            )
            person.last_progress = now

    @property
    def done(self) -> int:
        """How many have finished."""
        return sum(1 for p in self.people if p.step >= self.questions)

    def _latest(self, person: Person, marker: str, prefix: str) -> dict[str, Any] | None:
        """The newest bot message containing ``marker`` with a button whose data starts so."""
        chat = self.world.chats[person.user_id]
        for message in reversed(list(chat.messages.values())):
            if message.get("from", {}).get("is_bot") and marker in (message.get("text") or ""):
                rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
                if any(str(b.get("callback_data", "")).startswith(prefix) for r in rows for b in r):
                    return message
        return None

    def _finished(self, person: Person) -> bool:
        chat = self.world.chats[person.user_id]
        return any(
            m.get("from", {}).get("is_bot") and CLOSING in (m.get("text") or "")
            for m in chat.messages.values()
        )

    def _act(self, person: Person) -> bool:
        """Do the next thing if the bot has asked for it; True if something happened."""
        total = self.questions
        if person.step == -1:
            message = self._latest(person, "Is that OK with you?", "consent:yes:")
            if message is None:
                return False
            self._press(person, message, lambda b: b.startswith("consent:yes:"))
            person.step = 0
            return True
        if person.step >= total:
            return False
        if person.step in person.answered:
            # Answered: the next question, or the closing words, moves them on.
            if person.step == total - 1:
                if not self._finished(person):
                    return False
                person.step = total
                return True
            if self._latest(person, _marker(person.step + 1, total), "a:") is None:
                return False
            person.step += 1
        message = self._latest(person, _marker(person.step, total), "a:")
        if message is None:
            return False
        wanted = expected_answer(person.index, person.step)
        self._press(person, message, None, wanted=wanted, question=person.step)
        person.answered.add(person.step)
        return True

    def _press(
        self,
        person: Person,
        message: dict[str, Any],
        pick: Any,
        wanted: str | None = None,
        question: int = -1,
    ) -> None:
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        if wanted is not None:
            data = next(b["callback_data"] for b in buttons if b.get("text") == wanted)
        else:
            data = next(b["callback_data"] for b in buttons if pick(b.get("callback_data", "")))
        self.world.press(person.user_id, message["message_id"], data)
        update_id = self.world.updates[-1]["update_id"] if self.world.updates else -1
        person.presses.append((question, update_id))
        person.last_progress = time.monotonic()

    async def run_until(self, deadline: float) -> None:
        """Act whenever the sandbox changes, until everyone is done or ``deadline`` passes."""
        while self.done < len(self.people) and time.monotonic() < deadline:
            self._changed.clear()
            moved = False
            for person in self.people:
                while self._act(person):
                    moved = True
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.25)

    def stuck(self) -> list[Person]:
        """Those who have not finished."""
        return [p for p in self.people if p.step < self.questions]


# ---------------------------------------------------------------------------------------------
# What the database says.


@dataclass
class Verdict:
    """The audit of one run."""

    people: int
    answers_expected: int
    answers_stored: int
    lost: int  # answers pressed (and confirmed to the bot) but not stored
    doubled: int  # extra rows for a question already answered
    wrong: int  # stored with another value than the one pressed
    stuck: int  # never got to the end of the check-in
    lost_confirmed: int  # of the lost, those whose update Telegram had confirmed to the bot
    inbox: dict[str, int] = field(default_factory=dict)
    integrity: str = ""
    duplicate_questions: int = 0  # extra copies of a question (sent again after a crash)
    answers_pressed: int = 0
    stuck_after_stored: int = 0  # stuck although their last answer was stored

    @property
    def ok(self) -> bool:
        """Nothing lost, doubled or wrong, and nobody stuck."""
        return not (self.lost or self.doubled or self.wrong or self.stuck)


def verify(crowd: Crowd, database: Path) -> Verdict:
    """Compare what each participant pressed with what the bot stored."""
    total = crowd.questions
    with sqlite3.connect(database) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute(
            "SELECT p.chat_id, a.question_id, a.value FROM answers a"
            " JOIN participants p ON p.id = a.participant_id"
        ).fetchall()
        try:
            inbox = dict(
                conn.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall()
            )
        except sqlite3.OperationalError:  # an older bot without the inbox
            inbox = {}
    stored: dict[tuple[int, str], list[Any]] = {}
    for chat_id, question_id, value in rows:
        stored.setdefault((chat_id, question_id), []).append(value)
    confirmed = set(crowd.world.update_record().get("confirmed", []))
    lost = doubled = wrong = lost_confirmed = 0
    pressed = 0
    for person in crowd.people:
        answered = {q for q, _ in person.presses if q >= 0}
        for question in sorted(answered):
            pressed += 1
            values = stored.get((person.user_id, f"q{question + 1}"), [])
            if not values:
                lost += 1
                ids = [u for q, u in person.presses if q == question]
                lost_confirmed += any(u in confirmed for u in ids)
                continue
            doubled += len(values) - 1
            want = stored_value(question, expected_answer(person.index, question))
            wrong += sum(1 for v in values if v is None or _json(v) != want)
    stuck_after_stored = 0
    for person in crowd.stuck():
        if person.answered and stored.get((person.user_id, f"q{max(person.answered) + 1}")):
            stuck_after_stored += 1
    duplicates = 0
    for person in crowd.people:
        asked = Counter(
            match.group(1)
            for m in crowd.world.chats[person.user_id].messages.values()
            if m.get("from", {}).get("is_bot")
            and (match := _QUESTION.search(m.get("text") or "")) is not None
        )
        duplicates += sum(n - 1 for n in asked.values())
    return Verdict(
        people=len(crowd.people),
        answers_expected=len(crowd.people) * total,
        answers_stored=len(rows),
        lost=lost,
        doubled=doubled,
        wrong=wrong,
        stuck=len(crowd.stuck()),
        lost_confirmed=lost_confirmed,
        inbox=inbox,
        integrity=integrity,
        duplicate_questions=duplicates,
        answers_pressed=pressed,
        stuck_after_stored=stuck_after_stored,
    )


def _json(value: str) -> Any:
    import json

    return json.loads(value)


# ---------------------------------------------------------------------------------------------
# A run.


@dataclass
class ChaosReport:
    """What happened in one chaos run."""

    verdict: Verdict
    kills: int
    seconds: float
    exit_code: int | None


async def _first_poll(sandbox: Sandbox, calls_before: int, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while sandbox.world.get_updates_calls <= calls_before:
        if time.monotonic() > deadline:
            raise TimeoutError("the bot never polled the sandbox")
        await asyncio.sleep(0.02)


async def chaos_run(
    sandbox: Sandbox,
    workdir: Path,
    *,
    participants: int,
    questions: int = 5,
    kills: int = 3,
    kill_after: tuple[float, float] = (0.3, 1.5),
    settle_seconds: float = 45.0,
    seed: int = 1,
    src: Path = ROOT,
    first_id: int = 610000,
) -> ChaosReport:
    """Start the bot, let the crowd answer, SIGKILL it ``kills`` times at random moments
    (``kill_after`` seconds after each start's first poll), then let it finish and audit."""
    rng = random.Random(seed)
    config = write_config(workdir, questions)
    bot = BotProcess(sandbox.url, workdir, config, src=src)
    crowd = Crowd(sandbox, participants, questions, first_id)
    started = time.monotonic()
    crowd.start()  # everyone's /start is waiting before the bot even runs: a burst
    runner = asyncio.create_task(crowd.run_until(started + settle_seconds + 60))
    code: int | None = None
    try:
        for _ in range(kills):
            calls = sandbox.world.get_updates_calls
            await bot.start()
            await _first_poll(sandbox, calls, 30)
            await asyncio.sleep(rng.uniform(*kill_after))
            await bot.kill(signal.SIGKILL)
        await bot.start()
        await asyncio.wait_for(asyncio.shield(runner), settle_seconds)
    except TimeoutError:
        pass  # someone is stuck: the verdict says who
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        if bot.process is not None and bot.process.returncode is None:
            code = await bot.kill(signal.SIGTERM)
        await bot.ensure_stopped()
    return ChaosReport(verify(crowd, bot.database), kills, time.monotonic() - started, code)
