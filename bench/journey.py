"""Check-in journey benchmark: Everystage beside a bare python-telegram-bot bot.

    python -m bench.journey [--participants 200] [--questions 8] [--rate 10] [--duration 20]
                            [--rounds 2] [--quick] [--storage postgresql://USER@HOST:PORT/DB]

A child process runs the sandbox and the simulated participants (bench.loadserver); this
process runs the real Everystage bot and a bare PTB bot (bench.bots) one after the other,
in ABBA order over the rounds so that drifting background load hits both alike. Each bot, in
each round, gets fresh participants for two phases: saturation (everyone answers as soon as the
next question arrives) and a steady offered rate. A benchmark reports; it does not fail on a
missed target (the exit code is 0 unless the benchmark itself broke).

With ``--storage postgresql://...`` the two contenders are Everystage on SQLite and Everystage on
PostgreSQL instead (same sandbox, same run, ABBA order). Each PostgreSQL run gets a database of
its own, created on that server and dropped afterwards (the role needs CREATEDB; its password
from EVERYSTAGE_STORAGE__PASSWORD or libpq's PGPASSWORD). CPU per answer counts the bot process
and, for PostgreSQL, the server's processes on this machine too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from bench.bots import CONCURRENCY, POLL_TIMEOUT, AnyApp, build_bare, build_everystage, polling
from bench.loadserver import percentile
from bot.app import serving
from storage.db import is_postgres, redacted

SATURATION_TARGET = 0.9  # ours / bare answers per second, at least
P99_TARGET = 1.5  # ours / bare p99 at the steady rate, at most
RUN_SLACK = 60.0  # seconds an HTTP call to the load server may take beyond the phase itself
STORAGE_CPU_TARGET = 1.3  # PostgreSQL / SQLite CPU per answer (bot and database), at most
OURS, BARE, POSTGRES = "everystage", "bare", "postgresql"
PREPARE = {
    OURS: {"consent_prefix": "consent:yes:", "answer_prefix": "a:"},
    BARE: {"answer_prefix": "q:"},
    POSTGRES: {"consent_prefix": "consent:yes:", "answer_prefix": "a:"},
}
PHASE_BASE = {
    (OURS, "saturate"): 1,
    (OURS, "rate"): 2,
    (BARE, "saturate"): 3,
    (BARE, "rate"): 4,
    (POSTGRES, "saturate"): 5,
    (POSTGRES, "rate"): 6,
}


def user_ids(bot: str, phase: str, round_: int, n: int) -> list[int]:
    """Distinct Telegram user ids per bot, phase and round, so chats never collide."""
    base = PHASE_BASE[(bot, phase)] * 10_000_000 + round_ * 100_000
    return list(range(base + 1, base + n + 1))


# ---------------------------------------------------------------------------------------------
# Measuring.


def _machine_busy() -> float | None:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresCpu:
    """CPU seconds PostgreSQL's processes on this machine spent for one database, from /proc:
    the backends serving it (their titles name it) and the server's shared helpers (WAL
    writer, checkpointer...). Counted per process, so a backend that ends keeps its share."""

    AUXILIARY = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical")

    def __init__(self, database: str) -> None:
        self.database = database
        self._seen: dict[int, float] = {}
        self._total = 0.0

    def _ours(self, pid: str) -> bool:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                title = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        if not title.startswith("postgres:"):
            return False
        words = title.split()
        return (len(words) > 2 and words[2] == self.database) or any(
            title.startswith(f"postgres: {name}") for name in self.AUXILIARY
        )

    def read(self) -> float:
        """CPU seconds so far (grows monotonically)."""
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or not self._ours(entry.name):
                continue
            pid = int(entry.name)
            used = process_cpu(pid)
            self._total += max(0.0, used - self._seen.get(pid, 0.0))
            self._seen[pid] = used
        return self._total


class CpuSampler:
    """CPU time of this process, of the machine (and of PostgreSQL's processes when asked),
    sampled against monotonic time."""

    def __init__(self, every: float = 0.1, database: PostgresCpu | None = None) -> None:
        self.every = every
        self.database = database
        self.samples: list[tuple[float, float, float | None, float | None]] = []
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        db = self.database.read() if self.database is not None else None
        self.samples.append((time.monotonic(), time.process_time(), _machine_busy(), db))

    async def _loop(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.every)

    def start(self) -> None:
        """Start sampling."""
        self.samples.clear()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop sampling (one last sample first)."""
        self._sample()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def shares(self, start: float, end: float) -> tuple[float | None, float | None, float | None]:
        """(this process, whole machine, PostgreSQL) CPU seconds per second between two
        monotonic times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None, None, None
        (t0, c0, m0, d0), (t1, c1, m1, d1) = inside[0], inside[-1]
        machine = (m1 - m0) / (t1 - t0) if m0 is not None and m1 is not None else None
        db = (d1 - d0) / (t1 - t0) if d0 is not None and d1 is not None else None
        return (c1 - c0) / (t1 - t0), machine, db


@dataclass
class BotRun:
    """One bot, one round: setup and both phases as the load server measured them."""

    bot: str
    round: int
    prepare: dict[str, Any] = field(default_factory=dict)
    saturate: dict[str, Any] = field(default_factory=dict)
    rate: dict[str, Any] = field(default_factory=dict)


async def run_bot(
    control: httpx.AsyncClient,
    bot: str,
    app: AnyApp,
    opts: argparse.Namespace,
    round_: int,
    database_url: str | None = None,
) -> BotRun:
    """Prepare fresh participants, then measure saturation and the steady rate."""
    n = opts.participants
    users = {phase: user_ids(bot, phase, round_, n) for phase in ("saturate", "rate")}
    result = BotRun(bot, round_)
    database = urlsplit(database_url).path.strip("/") if database_url else None
    sampler = CpuSampler(database=PostgresCpu(database) if database else None)
    runner = polling(app) if bot == BARE else serving(app, poll_timeout=POLL_TIMEOUT)
    async with runner:
        prep_timeout = 60 + n / 5
        response = await control.post(
            "/bench/prepare",
            json={
                "users": users["saturate"] + users["rate"],
                "timeout": prep_timeout,
                **PREPARE[bot],
            },
            timeout=prep_timeout + RUN_SLACK,
        )
        result.prepare = _json(response)
        sampler.start()
        phases: tuple[tuple[str, dict[str, Any]], ...] = (
            ("saturate", {"answers_per_user": opts.questions, "duration": opts.saturate_cap}),
            ("rate", {"rate": opts.rate, "duration": opts.round_seconds, "warmup": opts.warmup}),
        )
        for phase, body in phases:
            response = await control.post(
                "/bench/run",
                json={"users": users[phase], "mode": phase, **body},
                timeout=body["duration"] + RUN_SLACK,
            )
            measured = _json(response)
            if "window_start" in measured:
                measured["bot_cpu"], measured["machine_cpu"], measured["db_cpu"] = sampler.shares(
                    measured["window_start"], measured["window_end"]
                )
            setattr(result, phase, measured)
        await sampler.stop()
    return result


def _json(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    return response.json()


@asynccontextmanager
async def load_server(with_pid: bool = False) -> AsyncIterator[Any]:
    """Start bench.loadserver in a child process; yield its URL and whether it validates
    (and, ``with_pid``, its process id)."""
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.loadserver", "--port", "0", "--exit-on-stdin-close"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), 30)).decode()
        match = re.match(r"READY (\S+) validating=(\w+)", line)
        if match is None:
            raise RuntimeError(f"load server did not start: {line!r}")
        found = (match.group(1), match.group(2) == "True")
        yield (*found, child.pid) if with_pid else found
    finally:
        if child.stdin is not None:
            child.stdin.close()  # the load server stops when its stdin closes
        if child.returncode is None:
            try:
                await asyncio.wait_for(child.wait(), 10)
            except TimeoutError:
                child.terminate()
                await child.wait()


# ---------------------------------------------------------------------------------------------
# Summing up the rounds.


@dataclass
class Summary:
    """One bot over all rounds."""

    rounds_per_second: list[float]
    answers_per_second: float
    window_answers: int
    window_seconds: float
    saturate_p50: float | None
    saturate_p99: float | None
    rate_achieved: float
    latencies: list[float]
    bot_cpu: float | None
    cpu_per_answer: float | None
    sandbox_cpu: float | None
    others_cpu: float | None
    rate_bot_cpu: float | None
    problems: list[str]
    db_cpu: float | None = None  # PostgreSQL's server processes (None: not measured)
    total_cpu_per_answer: float | None = None  # the bot's and the database server's

    def rate_percentile(self, q: float) -> float | None:
        """A percentile of the pooled steady-rate latencies."""
        return percentile(self.latencies, q) if self.latencies else None


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def summarise(runs: list[BotRun]) -> Summary:
    """Pool the rounds: throughput over all steady windows, latencies over all samples."""
    sat = [r.saturate for r in runs]
    answers = sum(s.get("window_answers", 0) for s in sat)
    seconds = sum(s.get("window_seconds", 0.0) for s in sat)
    sat_latencies = [x for s in sat for x in s.get("latencies", [])]
    others = [
        s["machine_cpu"] - s["bot_cpu"] - s["sandbox_cpu"] - (s.get("db_cpu") or 0.0)
        for s in sat
        if s.get("machine_cpu") is not None and s.get("bot_cpu") is not None
    ]
    problems = []
    for run in runs:
        where = f"{run.bot} round {run.round + 1}"
        if run.prepare.get("ready") != run.prepare.get("users"):
            problems.append(
                f"{where}: only {run.prepare.get('ready')}/{run.prepare.get('users')} "
                "participants got a first question"
            )
        for phase in ("saturate", "rate"):
            measured = getattr(run, phase)
            if measured.get("unanswered"):
                problems.append(f"{where} {phase}: {measured['unanswered']} presses got no reply")
            if measured.get("skipped_ticks"):
                problems.append(
                    f"{where} {phase}: {measured['skipped_ticks']} ticks found no participant "
                    "with a question waiting (raise --questions or --participants)"
                )
        if "window_answers" not in run.saturate:
            problems.append(f"{where} saturate: too few replies for a steady window")
    return Summary(
        rounds_per_second=[s.get("answers_per_second", 0.0) for s in sat],
        answers_per_second=answers / seconds if seconds > 0 else 0.0,
        window_answers=answers,
        window_seconds=seconds,
        saturate_p50=percentile(sat_latencies, 50) if sat_latencies else None,
        saturate_p99=percentile(sat_latencies, 99) if sat_latencies else None,
        rate_achieved=_mean([r.rate.get("answers_per_second") for r in runs]) or 0.0,
        latencies=[x for r in runs for x in r.rate.get("latencies", [])],
        bot_cpu=_mean([s.get("bot_cpu") for s in sat]),
        cpu_per_answer=_mean(
            [
                s["bot_cpu"] / s["answers_per_second"]
                for s in sat
                if s.get("bot_cpu") is not None and s.get("answers_per_second")
            ]
        ),
        sandbox_cpu=_mean([s.get("sandbox_cpu") for s in sat]),
        others_cpu=_mean(list(others)),
        rate_bot_cpu=_mean([r.rate.get("bot_cpu") for r in runs]),
        problems=problems,
        db_cpu=_mean([s.get("db_cpu") for s in sat]),
        total_cpu_per_answer=_mean(
            [
                (s["bot_cpu"] + (s.get("db_cpu") or 0.0)) / s["answers_per_second"]
                for s in sat
                if s.get("bot_cpu") is not None and s.get("answers_per_second")
            ]
        ),
    )


# ---------------------------------------------------------------------------------------------
# Reporting.


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _ratio(ours: float | None, bare: float | None) -> float | None:
    return ours / bare if ours is not None and bare else None


def report(
    opts: argparse.Namespace, validating: bool, ours: Summary, bare: Summary, rss: dict[str, float]
) -> str:
    """The printed table."""
    lines = [
        "",
        "Everystage check-in journey benchmark",
        f"  participants={opts.participants} per bot, phase and round; questions={opts.questions};"
        f" rate={opts.rate:g}/s for {opts.duration:g}s per bot "
        f"({opts.rounds} round(s) of {opts.round_seconds:g}s, first {opts.warmup:g}s of each "
        "not counted)",
        f"  CPUs={os.cpu_count()}; concurrent_updates={CONCURRENCY} for both bots; sandbox + "
        "participants in a child process",
        f"  sandbox spec validation {'ON' if validating else 'OFF'}; Everystage rate limiter "
        "OFF; Everystage logging WARNING; bots run in ABBA order, one at a time",
        "",
        f"{'':36}{'everystage':>13}{'bare PTB':>13}{'ratio':>8}{'target':>9}{'':>6}",
    ]

    def row(
        label: str,
        a: str,
        b: str,
        ratio: float | None = None,
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        verdict = "" if ok is None else "PASS" if ok else "MISS"
        r = "" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"  {label:34}{a:>13}{b:>13}{r:>8}{target:>9}{verdict:>6}".rstrip())

    sat_ratio = _ratio(ours.answers_per_second, bare.answers_per_second)
    lines.append("Saturation: every participant answers as soon as the next question arrives")
    row(
        "answers/s (steady windows)",
        f"{ours.answers_per_second:.1f}",
        f"{bare.answers_per_second:.1f}",
        sat_ratio,
        f">={SATURATION_TARGET}x",
        None if sat_ratio is None else sat_ratio >= SATURATION_TARGET,
    )
    if opts.rounds > 1:
        per_round = [
            _ratio(o, b)
            for o, b in zip(ours.rounds_per_second, bare.rounds_per_second, strict=True)
        ]
        row(
            "  by round",
            " ".join(f"{x:.0f}" for x in ours.rounds_per_second),
            " ".join(f"{x:.0f}" for x in bare.rounds_per_second),
        )
        lines[-1] += "  (" + ", ".join("-" if r is None else f"{r:.2f}x" for r in per_round) + ")"
    row(
        "answers counted / seconds",
        f"{ours.window_answers}/{ours.window_seconds:.1f}s",
        f"{bare.window_answers}/{bare.window_seconds:.1f}s",
    )
    row("p50 update->reply", _ms(ours.saturate_p50), _ms(bare.saturate_p50))
    row("p99 update->reply", _ms(ours.saturate_p99), _ms(bare.saturate_p99))
    row("CPU, bot process", _cores(ours.bot_cpu), _cores(bare.bot_cpu))
    row(
        "bot CPU time per answer",
        _ms(ours.cpu_per_answer),
        _ms(bare.cpu_per_answer),
        _ratio(ours.cpu_per_answer, bare.cpu_per_answer),
    )
    row("CPU, sandbox process", _cores(ours.sandbox_cpu), _cores(bare.sandbox_cpu))
    row("CPU, everything else on the box", _cores(ours.others_cpu), _cores(bare.others_cpu))

    p99_ratio = _ratio(ours.rate_percentile(99), bare.rate_percentile(99))
    lines.append(f"Steady offered load: {opts.rate:g} updates/s")
    row("answers/s achieved", f"{ours.rate_achieved:.1f}", f"{bare.rate_achieved:.1f}")
    row(
        "p50 update->reply",
        _ms(ours.rate_percentile(50)),
        _ms(bare.rate_percentile(50)),
        _ratio(ours.rate_percentile(50), bare.rate_percentile(50)),
    )
    row(
        "p90 update->reply",
        _ms(ours.rate_percentile(90)),
        _ms(bare.rate_percentile(90)),
        _ratio(ours.rate_percentile(90), bare.rate_percentile(90)),
    )
    row(
        "p99 update->reply",
        _ms(ours.rate_percentile(99)),
        _ms(bare.rate_percentile(99)),
        p99_ratio,
        f"<={P99_TARGET}x",
        None if p99_ratio is None else p99_ratio <= P99_TARGET,
    )
    row("max update->reply", _ms(ours.rate_percentile(100)), _ms(bare.rate_percentile(100)))
    row("latency samples", str(len(ours.latencies)), str(len(bare.latencies)))
    row("CPU, bot process", _cores(ours.rate_bot_cpu), _cores(bare.rate_bot_cpu))
    lines.append("Memory")
    row("peak RSS, bot process", f"{rss[OURS]:.0f} MB", "-")
    lines.append(
        f"  (bench process before any bot: {rss['baseline']:.0f} MB. Everystage's peak is read "
        "right after its first run, before the bare bot ever ran; the bare bot shares the "
        "process, so its own peak cannot be separated)"
    )
    problems = [f"{OURS}: {p}" for p in ours.problems] + [f"{BARE}: {p}" for p in bare.problems]
    if ours.others_cpu is not None and max(ours.others_cpu, bare.others_cpu or 0) > 0.25:
        problems.append(
            "other processes used a noticeable share of the CPUs during saturation; the "
            "throughput numbers are noisier than usual"
        )
    lines += ["", *(f"WARNING: {p}" for p in problems)]
    return "\n".join(lines)


def report_storage(opts: argparse.Namespace, validating: bool, sqlite: Summary, pg: Summary) -> str:
    """The printed table for --storage: Everystage on SQLite beside Everystage on PostgreSQL."""
    lines = [
        "",
        "Everystage check-in journey benchmark: SQLite vs PostgreSQL",
        f"  participants={opts.participants} per run and phase; questions={opts.questions};"
        f" rate={opts.rate:g}/s; {opts.rounds} round(s) each, ABBA order",
        f"  CPUs={os.cpu_count()}; PostgreSQL {redacted(opts.storage)} (a fresh database per"
        f" run); sandbox spec validation {'ON' if validating else 'OFF'}; rate limiter OFF",
        f"  PostgreSQL durability: {DURABILITY.get(opts.storage, '?')}; SQLite: synchronous=FULL"
        + (
            " (WARNING: PostgreSQL is not flushing to disk, so its figures flatter it)"
            if "=off" in DURABILITY.get(opts.storage, "")
            else ""
        ),
        "",
        f"{'':36}{'SQLite':>13}{'PostgreSQL':>13}{'ratio':>8}{'target':>9}{'':>6}",
    ]

    def row(label: str, a: str, b: str, ratio: float | None = None, target: str = "") -> None:
        verdict = ""
        if target and ratio is not None:
            verdict = "PASS" if ratio <= STORAGE_CPU_TARGET else "MISS"
        r = "" if ratio is None else f"{ratio:.2f}x"
        lines.append(f"  {label:34}{a:>13}{b:>13}{r:>8}{target:>9}{verdict:>6}".rstrip())

    lines.append("Saturation: every participant answers as soon as the next question arrives")
    row(
        "answers/s (steady windows)",
        f"{sqlite.answers_per_second:.1f}",
        f"{pg.answers_per_second:.1f}",
        _ratio(pg.answers_per_second, sqlite.answers_per_second),
    )
    row("p50 update->reply", _ms(sqlite.saturate_p50), _ms(pg.saturate_p50))
    row("p99 update->reply", _ms(sqlite.saturate_p99), _ms(pg.saturate_p99))
    row("CPU, bot process", _cores(sqlite.bot_cpu), _cores(pg.bot_cpu))
    row("CPU, PostgreSQL server", "-", _cores(pg.db_cpu))
    row("CPU, sandbox process", _cores(sqlite.sandbox_cpu), _cores(pg.sandbox_cpu))
    row(
        "bot CPU per answer",
        _ms(sqlite.cpu_per_answer),
        _ms(pg.cpu_per_answer),
        _ratio(pg.cpu_per_answer, sqlite.cpu_per_answer),
    )
    row(
        "CPU per answer, bot + database",
        _ms(sqlite.total_cpu_per_answer),
        _ms(pg.total_cpu_per_answer),
        _ratio(pg.total_cpu_per_answer, sqlite.total_cpu_per_answer),
        f"<={STORAGE_CPU_TARGET}x",
    )
    lines.append(f"Steady offered load: {opts.rate:g} updates/s")
    row("answers/s achieved", f"{sqlite.rate_achieved:.1f}", f"{pg.rate_achieved:.1f}")
    for q in (50, 99):
        row(
            f"p{q} update->reply",
            _ms(sqlite.rate_percentile(q)),
            _ms(pg.rate_percentile(q)),
            _ratio(pg.rate_percentile(q), sqlite.rate_percentile(q)),
        )
    problems = [f"SQLite: {p}" for p in sqlite.problems] + [f"PostgreSQL: {p}" for p in pg.problems]
    lines += ["", *(f"WARNING: {p}" for p in problems)]
    return "\n".join(lines)


DURABILITY: dict[str, str] = {}  # server URL -> its fsync/synchronous_commit settings


@asynccontextmanager
async def fresh_postgres(url: str) -> AsyncIterator[str]:
    """A new, empty database on the server ``url`` names, dropped afterwards; its URL."""
    import psycopg

    password = os.environ.get("EVERYSTAGE_STORAGE__PASSWORD") or None
    name = f"everystage_bench_{os.getpid()}_{int(time.time() * 1000) % 1_000_000}"

    def admin(sql: str) -> None:
        with psycopg.connect(url, password=password, autocommit=True) as conn:
            conn.execute(sql)

    def durability() -> str:
        with psycopg.connect(url, password=password, autocommit=True) as conn:
            found = [
                f"{setting}={conn.execute(f'SHOW {setting}').fetchone()[0]}"  # type: ignore[index]
                for setting in ("fsync", "synchronous_commit", "full_page_writes")
            ]
        return ", ".join(found)

    DURABILITY[url] = await asyncio.to_thread(durability)
    await asyncio.to_thread(admin, f'CREATE DATABASE "{name}"')
    try:
        parts = urlsplit(url)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await asyncio.to_thread(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------
# Entry point.


async def run(opts: argparse.Namespace, out: Callable[[str], None] = print) -> int:
    """The whole benchmark; returns the exit code."""
    rss = {"baseline": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    other = POSTGRES if opts.storage else BARE
    runs: dict[str, list[BotRun]] = {OURS: [], other: []}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="everystage-bench-") as tmp:
        async with load_server() as (url, validating), httpx.AsyncClient(base_url=url) as control:
            out(f"sandbox + participants at {url}; spec validation {'ON' if validating else 'OFF'}")
            for round_ in range(opts.rounds):
                for bot in (OURS, other) if round_ % 2 == 0 else (other, OURS):
                    out(f"round {round_ + 1}/{opts.rounds}: {bot} ...")
                    workdir = Path(tmp) / f"{bot}-{round_}"
                    workdir.mkdir()
                    if bot == POSTGRES:
                        async with fresh_postgres(opts.storage) as database:
                            app = build_everystage(url, workdir, opts.questions, database)
                            runs[bot].append(
                                await run_bot(control, bot, app, opts, round_, database)
                            )
                        continue
                    app = (
                        build_everystage(url, workdir, opts.questions)
                        if bot == OURS
                        else build_bare(url, opts.questions)
                    )
                    runs[bot].append(await run_bot(control, bot, app, opts, round_))
                    if bot == OURS and OURS not in rss:
                        rss[OURS] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if opts.storage:
        out(report_storage(opts, validating, summarise(runs[OURS]), summarise(runs[POSTGRES])))
    else:
        out(report(opts, validating, summarise(runs[OURS]), summarise(runs[BARE]), rss))
    out(f"(benchmark took {time.monotonic() - started:.0f}s)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick shrinks everything to a smoke run."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.journey",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--participants",
        type=int,
        default=200,
        help="simulated participants per bot, phase and round (default 200)",
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=8,
        help="button questions in the check-in (default 8, at least 3)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="steady offered load in updates per second (default 10)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds of steady offered load per bot, split over the rounds (default 20)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds per bot, run in ABBA order (default 2)"
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="compare Everystage on SQLite with Everystage on this PostgreSQL server"
        " (postgresql://USER@HOST:PORT/DB; a database is created per run and dropped)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI-sized smoke run: 20 participants, 5 seconds, 1 round",
    )
    opts = parser.parse_args(argv)
    if opts.storage and not is_postgres(opts.storage):
        parser.error("--storage takes a postgresql:// URL (SQLite is the other side already)")
    if opts.quick:
        opts.participants, opts.duration, opts.rounds = 20, 5.0, 1
    if opts.questions < 3:
        parser.error("--questions must be at least 3 (first and last answers are warm-up)")
    if not 1 <= opts.participants < 100_000 or opts.rounds < 1 or opts.rate <= 0:
        parser.error("need 1 <= --participants < 100000, --rounds >= 1 and --rate > 0")
    opts.round_seconds = opts.duration / opts.rounds
    opts.warmup = min(1.0, opts.round_seconds / 10)
    opts.saturate_cap = 120.0  # saturation ends when everyone has finished; a safety net
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.journey."""
    raise SystemExit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
