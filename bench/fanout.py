"""Benchmark: one nudge fanned out to N participants through the sandbox.

python -m bench.fanout [--participants 10000] [--quick] [--rounds 1] [--profile] [--json FILE]

The sandbox runs in its own process (``bench.fanout_sandbox``, participants pre-created and
started, spec validation off). Each measurement runs the bot in a fresh child process of this
one, so each mode's peak RSS is its own:

1. limits ON: the sandbox enforces Telegram's limits (30 msg/s overall, about 1/s per chat); the
   real Everystage Application (``build_application`` + ``serving``, ``rate_limit = true``, so
   the sending budget of bot/budget.py) runs one ``outreach.tick`` with a fake clock at the
   weekly check-in's due time (Monday 10:00 Europe/London). Measured: messages/s on the
   sandbox's clock over the run (sent - 1) / (last send - first send), 429s that reached
   Everystage's code (RetryAfter raised out of ``bot.send_message``; the budget retries the ones
   it can, counted separately), duplicates and lost (the sandbox's per-chat counts against the
   participants), peak RSS.
2. limits OFF: the same tick with ``rate_limit = false``, and in the same run, against the same
   sandbox, a bare python-telegram-bot loop (a ``telegram.Bot`` sending the same N messages with
   the same concurrency, ``bot.outreach.SEND_CONCURRENCY``, and nothing else). Ratio of the two.
3. planning: ``outreach.plan`` over N participants with nothing recorded yet (it records N
   occurrences), and again with everything recorded (what every tick costs in steady state).

Participants are written straight into SQLite (consented a week before "now"); the project is
config.example.toml as shipped. ``--quick`` is a small run for CI (600 participants).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib import request as urlrequest

from bot.sandbox.testing import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config.example.toml"
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # a Monday, 10:00 GMT = 10:00 in London
# Consented on the Saturday before: this Monday's weekly check-in is due, and the example's
# design reflection is not (3 days after joining; its stage_entry nudge is 2 h after start-up),
# so each participant is due exactly one nudge.
JOINED = NOW - timedelta(days=2)
HISTORY_WEEKS = 4  # for "steady state with history": earlier weekly check-ins, all answered
FIRST_CHAT = 700_000_001
QUICK_PARTICIPANTS = 600
POLL_TIMEOUT = 10
RESULT = "RESULT "

TARGET_RATE = 28.5  # msg/s, 95% of Telegram's 30
TARGET_RSS_MB = 150.0
TARGET_RATIO = 0.8
TARGET_PLAN_MS = 200.0


# ---------------------------------------------------------------------------------------------
# Small helpers (both sides).


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (10^6 bytes); Linux reports KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process (Linux /proc), 0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def chat_ids(participants: int) -> range:
    """The participants' chat ids (= their sandbox user ids)."""
    return range(FIRST_CHAT, FIRST_CHAT + participants)


def stamp(moment: datetime) -> str:
    """storage.db.utc_text, without importing storage in the parent."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------
# Workers: one mode each, in a child process; the result is one JSON line on stdout.


def _bot_env_logging() -> None:
    """Quiet logs (the benchmark reads the sending budget's counters, not its log)."""
    logging.basicConfig(level=logging.WARNING, format="worker %(name)s %(levelname)s %(message)s")


def _profiled(enabled: bool) -> tuple[Any, Any]:
    """(start, report) callables around cProfile, or no-ops."""
    if not enabled:
        return (lambda: None), (lambda: "")
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()

    def report() -> str:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(18)
        return out.getvalue()

    return profiler.enable, report


async def _tick_worker(args: argparse.Namespace) -> dict[str, Any]:
    """The real Application, serving against the sandbox; one tick at the due time."""
    from telegram.error import RetryAfter, TelegramError
    from telegram.ext import ExtBot

    from bot import outreach
    from bot.app import NUDGE_JOB, RETENTION_JOB, build_application, serving
    from bot.clock import FakeClock
    from bot.settings import load_settings

    _bot_env_logging()
    surfaced: Counter[str] = Counter()
    original = ExtBot.send_message

    async def observed(self: Any, *a: Any, **kw: Any) -> Any:
        # What Everystage's delivery code sees: anything raised here reached our code.
        try:
            return await original(self, *a, **kw)
        except RetryAfter:
            surfaced["RetryAfter"] += 1
            raise
        except TelegramError as exc:
            surfaced[type(exc).__name__] += 1
            raise

    ExtBot.send_message = observed  # type: ignore[method-assign]

    settings = load_settings(CONFIG)
    assert settings.telegram.rate_limit == (args.worker == "limited"), "rate_limit not as asked"
    app = build_application(settings, clock=FakeClock(NOW))
    rss_idle = peak_rss_mb()
    start, report_profile = _profiled(args.profile)
    async with serving(app, poll_timeout=POLL_TIMEOUT) as running:
        assert running.job_queue is not None
        for name in (NUDGE_JOB, RETENTION_JOB):  # ticks happen when the benchmark says
            for job in running.job_queue.get_jobs_by_name(name):
                job.schedule_removal()
        rss_serving = peak_rss_mb()
        start()
        started, cpu = time.perf_counter(), cpu_seconds()
        report = await outreach.tick(running)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        profile = report_profile()
        # The sending budget (bot/budget.py): 429s it met and retried, and those it passed on.
        counts = getattr(running.bot.rate_limiter, "counts", Counter())
    return {
        "mode": args.worker,
        "planned": report.planned,
        "sent": report.sent,
        "failed": report.failed,
        "deferred": report.deferred,
        "unreachable": report.unreachable,
        "errors": report.errors,
        "seconds_planning": report.seconds_planning,
        "tick_seconds": seconds,
        "cpu_seconds": cpu,
        "surfaced": dict(surfaced),
        "limiter_retried": counts["flood_waits"] - counts["surfaced"],
        "limiter_gave_up": counts["surfaced"],
        "rss_idle_mb": rss_idle,
        "rss_serving_mb": rss_serving,
        "rss_peak_mb": peak_rss_mb(),
        "profile": profile,
    }


async def _bare_worker(args: argparse.Namespace) -> dict[str, Any]:
    """A bare PTB loop: the same messages, the same concurrency, no storage, no limiter."""
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
    from telegram.error import TelegramError

    from bot.outreach import SEND_CONCURRENCY
    from bot.settings import load_settings
    from bot.texts import Texts

    logging.basicConfig(level=logging.WARNING, format="worker %(name)s %(levelname)s %(message)s")
    settings = load_settings(CONFIG)
    texts = Texts.load(settings.project.locale)
    checkin = settings.checkin("weekly")
    assert checkin is not None
    text = texts("nudge.opening", title=checkin.title, minutes=checkin.minutes)
    labels = [texts("nudge.start"), texts("nudge.in_an_hour"), texts("nudge.tomorrow")]

    def keyboard(n: int) -> InlineKeyboardMarkup:  # the same shape as bot.outreach.nudge_keyboard
        start, hour, tomorrow = (
            InlineKeyboardButton(label, callback_data=f"n:{n}:{what}")
            for label, what in zip(labels, ("start", "hour", "tomorrow"), strict=True)
        )
        return InlineKeyboardMarkup([[start], [hour, tomorrow]])

    errors: Counter[str] = Counter()
    sent = 0
    bot = Bot(TEST_TOKEN, base_url=f"{args.url}/bot", base_file_url=f"{args.url}/file/bot")
    async with bot:
        rss_serving = peak_rss_mb()
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def one(n: int, chat_id: int) -> None:
            nonlocal sent
            async with gate:
                try:
                    await bot.send_message(chat_id, text, reply_markup=keyboard(n))
                    sent += 1
                except TelegramError as exc:
                    errors[type(exc).__name__] += 1

        started, cpu = time.perf_counter(), cpu_seconds()
        await asyncio.gather(
            *(one(n, chat_id) for n, chat_id in enumerate(chat_ids(args.participants), 1))
        )
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "mode": "bare",
        "sent": sent,
        "errors": dict(errors),
        "tick_seconds": seconds,
        "cpu_seconds": cpu,
        "rss_serving_mb": rss_serving,
        "rss_peak_mb": peak_rss_mb(),
    }


async def _plan_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Time outreach.plan with nothing recorded (repeated on an emptied table) and all recorded."""
    from bot import outreach
    from bot.app import build_application
    from bot.clock import FakeClock
    from bot.services import services_of
    from bot.settings import load_settings
    from storage import outbox
    from storage.db import Database

    logging.basicConfig(level=logging.WARNING, format="worker %(name)s %(levelname)s %(message)s")
    settings = load_settings(CONFIG)
    app = build_application(settings, clock=FakeClock(NOW))
    services = services_of(app)
    db = await Database.open(settings.storage.path)
    services.attach(db)
    start, report_profile = _profiled(args.profile)
    try:
        await outreach.sync_stage(app)  # as at start-up: the stage begins "now"
        cold: list[float] = []
        planned = 0
        for repeat in range(3):
            if repeat:
                async with db.transaction() as tx:
                    await tx.execute("DELETE FROM occurrences")
            if repeat == 2:
                start()
            started = time.perf_counter()
            planned = await outreach.plan(services, NOW)
            cold.append(time.perf_counter() - started)
        steady: list[float] = []
        for _ in range(5):
            started = time.perf_counter()
            again = await outreach.plan(services, NOW)
            steady.append(time.perf_counter() - started)
            assert again == 0, "a second plan recorded something"
        due: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            found = await outbox.due(db, NOW)
            due.append(time.perf_counter() - started)
        profile = report_profile()
        async with db.read() as tx:
            kinds = await tx.all(
                "SELECT checkin_id, status, count(*) FROM occurrences GROUP BY 1, 2"
            )
        # Weeks of taking part: every earlier Monday inside plan()'s 35-day window is a row that
        # known_keys() loads on every tick.
        await _add_history(db, HISTORY_WEEKS)
        history: list[float] = []
        for _ in range(5):
            started = time.perf_counter()
            again = await outreach.plan(services, NOW)
            history.append(time.perf_counter() - started)
            assert again == 0, "a plan with history recorded something"
    finally:
        await db.close()
    return {
        "mode": "plan",
        "planned": planned,
        "recorded": {f"{r[0]}/{r[1]}": r[2] for r in kinds},
        "due_messages": len(found),
        "cold_seconds": cold,
        "steady_seconds": steady,
        "due_seconds": due,
        "history_weeks": HISTORY_WEEKS,
        "history_seconds": history,
        "rss_peak_mb": peak_rss_mb(),
        "profile": profile,
    }


async def _add_history(db: Any, weeks: int) -> None:
    """Answered weekly occurrences for the ``weeks`` Mondays before NOW, for everyone."""
    async with db.read() as tx:
        people = [r[0] for r in await tx.all("SELECT id FROM participants")]
    rows = []
    for back in range(1, weeks + 1):
        due = NOW - timedelta(weeks=back)
        key = f"week:{due.date().isoformat()}"
        for person in people:
            rows.append((person, "weekly", key, stamp(due), stamp(due + timedelta(hours=72))))
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO occurrences (participant_id, checkin_id, occurrence_key, due_at, status,"
            " sent_at, closes_at, answered_at) VALUES (?, ?, ?, ?, 'answered', ?4, ?5, ?4)",
            rows,
        )


WORKERS = {
    "limited": _tick_worker,
    "unlimited": _tick_worker,
    "bare": _bare_worker,
    "plan": _plan_worker,
}


def run_worker(args: argparse.Namespace) -> None:
    """Child-process entry: run one mode and print its result as one JSON line."""
    result = asyncio.run(WORKERS[args.worker](args))
    print(RESULT + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent: database, sandbox, one child per measurement, the table.


def make_database(path: Path, participants: int) -> None:
    """A migrated database with ``participants`` active people who consented a week ago."""
    from storage.db import Database

    async def migrate() -> None:
        await (await Database.open(path)).close()

    asyncio.run(migrate())
    joined = stamp(JOINED)
    rows = [
        (f"{n:032x}", f"B-{n:06d}", chat_id, joined, joined)
        for n, chat_id in enumerate(chat_ids(participants), 1)
    ]
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO participants"
            " (id, pseudonym, chat_id, status, consent_version, consented_at, created_at)"
            " VALUES (?, ?, ?, 'active', 1, ?, ?)",
            rows,
        )
    conn.close()  # the last connection: the WAL is checkpointed and removed


class SandboxProcess:
    """bench.fanout_sandbox in a child process, and its control API."""

    def __init__(self, participants: int, validate: bool) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.fanout_sandbox",
            "--first-user",
            str(FIRST_CHAT),
            "--users",
            str(participants),
        ] + (["--validate"] if validate else [])
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("URL "):
            self.stop()
            raise RuntimeError(f"the sandbox did not start (said {line!r})")
        self.url = line.removeprefix("URL ")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One control API call; the JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urlrequest.Request(f"{self.url}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urlrequest.urlopen(req, timeout=60) as answer:
            return json.loads(answer.read())

    def prepare(self, limits: bool) -> None:
        """Switch Telegram's limits on or off (fresh buckets) and zero every counter."""
        self.call("POST", "/sandbox/limits", {"enabled": limits, "reset_stats": True})
        self.call("DELETE", "/sandbox/stats")
        self.call("DELETE", "/sandbox/requests")

    def stop(self) -> None:
        """Close its stdin (it exits at EOF), then make sure."""
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=10)


def delivery(stats: dict[str, Any], participants: int) -> dict[str, Any]:
    """What the sandbox saw: rate, peak, duplicates, lost, strays, 429s it returned."""
    by_chat = {int(k): v for k, v in stats["messages_by_chat"].items()}
    expected = set(chat_ids(participants))
    return {
        "messages": stats["messages"],
        "rate": stats["sends_per_second"] or 0.0,
        "peak": stats["peak_per_second"],
        "span": (stats["last_send"] or 0.0) - (stats["first_send"] or 0.0),
        "duplicates": sum(count - 1 for chat, count in by_chat.items() if count > 1),
        "lost": sum(1 for chat in expected if by_chat.get(chat, 0) == 0),
        "strays": sum(count for chat, count in by_chat.items() if chat not in expected),
        "sandbox_429s": stats["limits"]["stats"]["limited"],
        "sandbox_429s_by_scope": stats["limits"]["stats"]["limited_by_scope"],
    }


def spawn(
    mode: str, args: argparse.Namespace, sandbox: SandboxProcess, db: Path | None, work: Path
) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; its result."""
    env = dict(os.environ)
    env.update(
        {
            "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
            "EVERYSTAGE_TELEGRAM__API_BASE_URL": sandbox.url,
            "EVERYSTAGE_TELEGRAM__RATE_LIMIT": "true" if mode == "limited" else "false",
            "EVERYSTAGE_STORAGE__PATH": str(db or work / "unused.db"),
            "EVERYSTAGE_STORAGE__FILES_DIR": str(work / "files"),
            "EVERYSTAGE_NUDGES__CHECK_EVERY_SECONDS": "3600",
        }
    )
    command = [
        sys.executable,
        "-m",
        "bench.fanout",
        "--worker",
        mode,
        "--url",
        sandbox.url,
        "--participants",
        str(args.participants),
    ] + (["--profile"] if args.profile else [])
    limit = 180 + (args.participants / 30 * 2 if mode == "limited" else args.participants / 50)
    done = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=limit, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line.removeprefix(RESULT))
    raise RuntimeError(f"worker {mode} failed (exit {done.returncode}):\n{done.stdout}")


def phase(
    mode: str, args: argparse.Namespace, sandbox: SandboxProcess, db: Path | None, work: Path
) -> dict[str, Any]:
    """One delivery measurement: a worker, then what the sandbox saw and the CPU it used."""
    before = process_cpu_seconds(sandbox.process.pid)
    worker = spawn(mode, args, sandbox, db, work)
    seen = delivery(sandbox.call("GET", "/sandbox/stats"), args.participants)
    seen["sandbox_cpu_seconds"] = process_cpu_seconds(sandbox.process.pid) - before
    return {"worker": worker, "sandbox": seen}


def fresh_db(template: Path, work: Path, name: str) -> Path:
    """A copy of the template database for one run."""
    path = work / f"{name}.db"
    shutil.copyfile(template, path)
    return path


def measure(args: argparse.Namespace, work: Path, say: Any) -> dict[str, Any]:
    """Everything, in order; the raw results."""
    n = args.participants
    template = work / "template.db"
    started = time.perf_counter()
    make_database(template, n)
    say(f"database with {n} participants: {time.perf_counter() - started:.1f}s")
    sandbox = SandboxProcess(n, args.validate)
    results: dict[str, Any] = {"participants": n, "sandbox_url": sandbox.url}
    try:
        say(f"sandbox at {sandbox.url}")
        if not args.skip_limited:
            say(f"limits ON: fanning out to {n} (about {n / 30:.0f}s at 30 msg/s)...")
            sandbox.prepare(limits=True)
            results["limited"] = phase(
                "limited", args, sandbox, fresh_db(template, work, "limited"), work
            )
            seen = results["limited"]["sandbox"]
            say(f"  {seen['rate']:.2f} msg/s, {seen['sandbox_429s']} 429s from the sandbox")
        rounds = []
        for number in range(1, args.rounds + 1):
            found: dict[str, Any] = {}
            # Alternate who goes first, so neither always meets a fresher sandbox.
            for who in ("bare", "ours") if number % 2 else ("ours", "bare"):
                sandbox.prepare(limits=False)
                if who == "bare":
                    found[who] = phase("bare", args, sandbox, None, work)
                else:
                    db = fresh_db(template, work, f"free{number}")
                    found[who] = phase("unlimited", args, sandbox, db, work)
                seen = found[who]["sandbox"]
                name = "bare PTB loop" if who == "bare" else "Everystage"
                say(f"limits OFF, round {number}, {name}: {seen['rate']:.1f} msg/s")
            rounds.append(found)
        results["unlimited"] = rounds
        say("planning...")
        results["plan"] = spawn("plan", args, sandbox, fresh_db(template, work, "plan"), work)
    finally:
        sandbox.stop()
    return results


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def table(results: dict[str, Any]) -> tuple[str, bool]:
    """The figures beside their targets, and whether all targets were met."""
    n = results["participants"]
    rows: list[tuple[str, str, str, str]] = []
    passed = True

    def row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        nonlocal passed
        if ok is not None:
            passed = passed and ok
        rows.append((name, value, target, "" if ok is None else verdict(ok)))

    if "limited" in results:
        worker, seen = results["limited"]["worker"], results["limited"]["sandbox"]
        surfaced_429 = worker["surfaced"].get("RetryAfter", 0)
        row("Limits ON", f"{n} participants, one tick")
        row(
            "  messages/s (sandbox clock)",
            f"{seen['rate']:.2f}",
            f">= {TARGET_RATE}",
            seen["rate"] >= TARGET_RATE,
        )
        row("  429s reaching the bot's code", str(surfaced_429), "0", surfaced_429 == 0)
        row("  duplicates", str(seen["duplicates"]), "0", seen["duplicates"] == 0)
        row("  lost", str(seen["lost"] + seen["strays"]), "0", seen["lost"] + seen["strays"] == 0)
        row(
            "  peak RSS, bot process (MB)",
            f"{worker['rss_peak_mb']:.1f}",
            f"<= {TARGET_RSS_MB:.0f}",
            worker["rss_peak_mb"] <= TARGET_RSS_MB,
        )
        scopes = ", ".join(f"{k} {v}" for k, v in sorted(seen["sandbox_429s_by_scope"].items()))
        row(
            "  (429s the sandbox returned)",
            f"{seen['sandbox_429s']}" + (f" ({scopes})" * bool(scopes)),
        )
        row("  (of which the sending budget retried)", str(worker["limiter_retried"]))
        row("  (peak msgs in any 1 s)", str(seen["peak"]))
        row("  (tick wall time, s)", f"{worker['tick_seconds']:.1f}")
        row("  (RSS serving, before the tick)", f"{worker['rss_serving_mb']:.1f}")
    rounds = results["unlimited"]
    if rounds:
        ours_rates = [r["ours"]["sandbox"]["rate"] for r in rounds]
        bare_rates = [r["bare"]["sandbox"]["rate"] for r in rounds]
        ours_rate, bare_rate = statistics.median(ours_rates), statistics.median(bare_rates)
        ratio = ours_rate / bare_rate if bare_rate else 0.0
        dupes = sum(r["ours"]["sandbox"]["duplicates"] for r in rounds)
        lost = sum(r["ours"]["sandbox"]["lost"] + r["ours"]["sandbox"]["strays"] for r in rounds)
        rss = max(r["ours"]["worker"]["rss_peak_mb"] for r in rounds)
        bare_ok = all(r["bare"]["sandbox"]["lost"] == 0 for r in rounds)
        label = "median of " + str(len(rounds)) if len(rounds) > 1 else "one round"
        row("Limits OFF", f"{n} participants, {label}")
        row("  Everystage messages/s", f"{ours_rate:.1f}")
        row("  bare PTB loop messages/s", f"{bare_rate:.1f}" + ("" if bare_ok else " (lost some!)"))
        row("  Everystage / bare", f"{ratio:.2f}", f">= {TARGET_RATIO}", ratio >= TARGET_RATIO)
        row("  duplicates", str(dupes), "0", dupes == 0)
        row("  lost", str(lost), "0", lost == 0)
        row(
            "  peak RSS, bot process (MB)",
            f"{rss:.1f}",
            f"<= {TARGET_RSS_MB:.0f}",
            rss <= TARGET_RSS_MB,
        )
        per = 1000 / n
        ours_cpu = statistics.median(r["ours"]["worker"]["cpu_seconds"] for r in rounds) * per
        bare_cpu = statistics.median(r["bare"]["worker"]["cpu_seconds"] for r in rounds) * per
        sandbox_cpu = statistics.median(
            r[w]["sandbox"]["sandbox_cpu_seconds"] for r in rounds for w in ("ours", "bare")
        )
        row("  (bot CPU per message, ms: ours / bare)", f"{ours_cpu:.2f} / {bare_cpu:.2f}")
        row("  (sandbox CPU per message, ms)", f"{sandbox_cpu * per:.2f}")
        row("  (bare loop peak RSS, MB)", f"{rounds[0]['bare']['worker']['rss_peak_mb']:.1f}")
        if len(rounds) > 1:
            row(
                "  (each round, ours/bare)",
                ", ".join(f"{o:.0f}/{b:.0f}" for o, b in zip(ours_rates, bare_rates, strict=True)),
            )
    plan = results["plan"]
    cold = statistics.median(plan["cold_seconds"]) * 1000
    steady = statistics.median(plan["steady_seconds"]) * 1000
    row("Planning", f"{n} participants, {plan['planned']} occurrences recorded")
    row(
        "  plan(), nothing recorded (ms)",
        f"{cold:.0f}",
        f"<= {TARGET_PLAN_MS:.0f}",
        cold <= TARGET_PLAN_MS,
    )
    row(
        "  plan(), all recorded (ms)",
        f"{steady:.0f}",
        f"<= {TARGET_PLAN_MS:.0f}",
        steady <= TARGET_PLAN_MS,
    )
    with_history = statistics.median(plan["history_seconds"]) * 1000
    row(
        f"  plan(), all recorded + {plan['history_weeks']} weeks' history (ms)",
        f"{with_history:.0f}",
        f"<= {TARGET_PLAN_MS:.0f}",
        with_history <= TARGET_PLAN_MS,
    )
    row("  (due() query, ms)", f"{statistics.median(plan['due_seconds']) * 1000:.0f}")
    if "limited" in results:
        row(
            "  (in the limited tick, ms)",
            f"{results['limited']['worker']['seconds_planning'] * 1000:.0f}",
        )
    widths = [max(len(r[i]) for r in [("Figure", "Value", "Target", ""), *rows]) for i in range(4)]
    lines = []
    for r in [("Figure", "Value", "Target", "Result"), *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    lines.insert(1, "-" * len(max(lines, key=len)))
    return "\n".join(lines), passed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--participants", type=int, default=None, help="default 10000")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PARTICIPANTS} participants")
    parser.add_argument(
        "--rounds", type=int, default=None, help="limits-off rounds, median (default 3; quick 1)"
    )
    parser.add_argument("--skip-limited", action="store_true", help="skip the slow limits-ON run")
    parser.add_argument("--validate", action="store_true", help="sandbox checks the Bot API spec")
    parser.add_argument("--profile", action="store_true", help="cProfile the ticks and plan()")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.participants is None:
        args.participants = QUICK_PARTICIPANTS if args.quick else 10_000
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.participants < 2 or args.rounds < 1:
        parser.error("need at least 2 participants and 1 round")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="everystage-fanout-"))
    try:
        started = time.perf_counter()
        results = measure(args, work, say)
        results["seconds"] = time.perf_counter() - started
    finally:
        if args.keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    text, passed = table(results)
    print(
        f"\nEverystage fan-out benchmark: python -m bench.fanout --participants "
        f"{args.participants}  ({results['seconds']:.0f}s)\n"
    )
    print(text)
    if args.profile:
        for name, worker in _profiles(results):
            print(f"\n--- profile: {name} ---\n{worker}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if args.strict and not passed else 0


def _profiles(results: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    if "limited" in results:
        found.append(("limits ON tick", results["limited"]["worker"]["profile"]))
    for number, r in enumerate(results["unlimited"], 1):
        found.append((f"limits OFF tick, round {number}", r["ours"]["worker"]["profile"]))
    found.append(
        ("plan() (third cold run, then steady runs and due())", results["plan"]["profile"])
    )
    return [(name, text) for name, text in found if text]


if __name__ == "__main__":
    sys.exit(main())
