"""Benchmark: one nudge to 10,000 people from two webhook workers sharing one PostgreSQL.

    python -m bench.fanout_workers [--storage postgresql://USER@HOST:PORT/DB]
                                   [--participants 10000] [--workers 1,2] [--quick]

The sandbox (bench.fanout_sandbox, in a child process, the participants already started in it)
enforces Telegram's limits: about 30 messages a second overall, about 1 a second per chat. For
each worker count, a fresh database on the server ``--storage`` names (the role needs CREATEDB;
default ``$EVERYSTAGE_TEST_POSTGRES``) gets the participants (consented, active), N real
``everystage run --webhook`` processes start on it with the sending budget on (``rate_limit =
true``: one budget in the database for all of them), the sandbox delivers webhooks to them in
turn as a load balancer would, and a coordinator sends ``/ask pulse``: a one-question check-in
for everyone, now. Every worker claims its share of the due messages and sends it.

Measured, from the sandbox: messages a second from the first send to the last (the target is
95% of 30 combined), the 429s it answered, who got none (lost) and who got more than one
(duplicated); from the workers' logs at exit, the 429s their budget met and those it passed on
to Everystage's code (the target is none); and from the database, how many each worker sent.
The baseline is one worker in the same run, against the same sandbox. ``--quick`` sends to
1,000 people.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bots import bench_config
from bench.fanout import SandboxProcess, chat_ids, delivery, stamp
from bench.journey import fresh_postgres
from bench.workers import WorkerProcess
from storage.db import Database, is_postgres, redacted

TELEGRAM_RATE = 30.0  # messages a second to different chats
TARGET_SHARE = 0.95
COORDINATOR = 990_001
PULSE = "Pulse check"
QUICK_PARTICIPANTS = 1_000
# No progress for this long (the sandbox saw no new message) ends a run: whatever is missing
# by then is lost.
STALL_SECONDS = 60.0
# After the last person got their message, wait this long for any second copy.
SETTLE_SECONDS = 3.0
BUDGET_LINE = re.compile(r"sending budget: .*429s: (\d+) met, (\d+) passed on; (\d+) paced alone")


def config_text() -> str:
    """The benchmark's project: a one-question "pulse" check-in to /ask for, a coordinator, no
    quiet hours, the sending budget on, and logs at INFO (the budget's summary at exit)."""
    text = bench_config(3)
    for old, new in (
        ("rate_limit = false", "rate_limit = true"),
        ('[logging]\nlevel = "WARNING"', '[logging]\nlevel = "INFO"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    return text + (
        '\n[nudges]\nquiet_hours = ["00:00", "00:00"]\ncheck_every_seconds = 1\n'
        f"\n[coordinators]\nuser_ids = [{COORDINATOR}]\n"
        f'\n[[checkins]]\nid = "pulse"\ntitle = "{PULSE}"\nintro = "One question."\n'
        '  [[checkins.questions]]\n  id = "p1"\n  kind = "yesno"\n'
        '  text = "Is the new service working for you?"\n'
    )


def add_participants(url: str, participants: int) -> None:
    """Migrate the database and add ``participants`` people who consented yesterday."""
    import psycopg

    async def migrate() -> None:
        await (await Database.open(url)).close()

    asyncio.run(migrate())
    joined = stamp(datetime.now(UTC) - timedelta(days=1))
    columns = "id, pseudonym, chat_id, status, consent_version, consented_at, created_at"
    copying = f"COPY participants ({columns}) FROM STDIN"
    with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(copying) as copy:
        for n, chat_id in enumerate(chat_ids(participants), 1):
            copy.write_row((f"{n:032x}", f"B-{n:06d}", chat_id, "active", 1, joined, joined))


def sent_by_worker(url: str) -> dict[str, int]:
    """Messages each worker sent (send attempts that went out), by worker id."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT worker, count(*) FROM send_attempts WHERE outcome = 'sent' GROUP BY worker"
        ).fetchall()
    return {str(worker): int(count) for worker, count in rows}


@dataclass
class Run:
    """One worker count's figures."""

    workers: int
    rate: float
    peak: int
    seconds: float
    sandbox_429s: int
    met: int  # 429s the workers' budgets met (and retried)
    passed_on: int  # 429s that reached Everystage's code
    paced_alone: int  # times a worker could not reach the shared budget
    lost: int
    duplicated: int
    strays: int
    shares: list[int] = field(default_factory=list)  # sent by each worker

    @property
    def share_of_limit(self) -> float:
        return self.rate / TELEGRAM_RATE


async def _wait_for_everyone(sandbox: SandboxProcess, participants: int) -> dict[str, Any]:
    """Poll the sandbox until everyone has a message (or nothing moved for STALL_SECONDS)."""
    expected = set(chat_ids(participants))
    seen, last_change = -1, time.monotonic()
    while True:
        stats = await asyncio.to_thread(sandbox.call, "GET", "/sandbox/stats")
        reached = sum(1 for chat in stats["messages_by_chat"] if int(chat) in expected)
        if reached >= participants:
            await asyncio.sleep(SETTLE_SECONDS)
            return await asyncio.to_thread(sandbox.call, "GET", "/sandbox/stats")
        if reached != seen:
            seen, last_change = reached, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            return stats
        await asyncio.sleep(1.0)


async def measure(
    sandbox: SandboxProcess, server: str, workers: int, participants: int, tmp: Path
) -> Run:
    """One fan-out with ``workers`` workers on a fresh database."""
    workdir = tmp / f"workers-{workers}"
    workdir.mkdir()
    config = workdir / "everystage.toml"
    config.write_text(config_text(), encoding="utf-8")
    async with fresh_postgres(server) as database, AsyncExitStack() as stack:
        await asyncio.to_thread(add_participants, database, participants)
        await asyncio.to_thread(sandbox.prepare, True)
        started = [
            WorkerProcess(f"worker{n}", workdir / f"worker{n}.log") for n in range(1, workers + 1)
        ]
        for worker in started:
            stack.push_async_callback(worker.kill)
            await worker.start(sandbox.url, config, database)
        await asyncio.gather(*(worker.ready() for worker in started))
        await asyncio.to_thread(
            sandbox.call, "POST", "/sandbox/webhook", {"targets": [w.url for w in started]}
        )
        await asyncio.to_thread(
            sandbox.call, "POST", "/sandbox/users", {"id": COORDINATOR, "first_name": "Coord"}
        )
        await asyncio.to_thread(
            sandbox.call,
            "POST",
            f"/sandbox/chats/{COORDINATOR}/messages",
            {"text": "/ask pulse", "user_id": COORDINATOR},
        )
        stats = await _wait_for_everyone(sandbox, participants)
        for worker in started:
            code = await worker.stop(signal.SIGTERM)
            if code != 0:
                raise RuntimeError(f"{worker.name} exited with {code}:\n{worker.output()[-2000:]}")
        await asyncio.to_thread(sandbox.call, "POST", "/sandbox/webhook", {"targets": []})
        by_worker = await asyncio.to_thread(sent_by_worker, database)
    seen = delivery(stats, participants)
    budgets = [BUDGET_LINE.findall(worker.output()) for worker in started]
    met = passed_on = alone = 0
    for found in budgets:
        if not found:
            raise RuntimeError("a worker did not log its sending budget at exit")
        m, p, a = (int(x) for x in found[-1])
        met, passed_on, alone = met + m, passed_on + p, alone + a
    shares = [sum(n for w, n in by_worker.items() if f"-{worker.pid}-" in w) for worker in started]
    return Run(
        workers=workers,
        rate=seen["rate"],
        peak=seen["peak"],
        seconds=seen["span"],
        sandbox_429s=seen["sandbox_429s"],
        met=met,
        passed_on=passed_on,
        paced_alone=alone,
        lost=seen["lost"],
        duplicated=seen["duplicates"],
        strays=seen["strays"],
        shares=shares,
    )


def met_target(run: Run) -> bool:
    """The issue's target for a run with several workers."""
    return (
        run.share_of_limit >= TARGET_SHARE
        and run.passed_on == 0
        and run.lost == 0
        and run.duplicated == 0
    )


def report(runs: list[Run], participants: int, server: str) -> str:
    """The printed table."""
    lines = [
        "",
        f"One nudge to {participants:,} people; the sandbox enforces Telegram's limits"
        f" ({TELEGRAM_RATE:g} msg/s overall, 1/s per chat); PostgreSQL {redacted(server)};"
        f" CPUs={os.cpu_count()}",
        "",
        f"  {'workers':>7}{'msg/s':>8}{'of 30/s':>9}{'peak/s':>8}{'took':>8}"
        f"{'429s: sandbox':>15}{'met':>5}{'passed on':>11}{'lost':>6}{'twice':>7}   sent by each",
    ]
    for run in runs:
        lines.append(
            f"  {run.workers:>7}{run.rate:>8.1f}{run.share_of_limit:>8.1%}{run.peak:>8}"
            f"{run.seconds:>7.0f}s{run.sandbox_429s:>15}{run.met:>5}{run.passed_on:>11}"
            f"{run.lost:>6}{run.duplicated:>7}   {' + '.join(str(s) for s in run.shares)}"
        )
        if run.paced_alone or run.strays > 1:
            lines.append(
                f"  ({run.paced_alone} sends paced without the shared budget;"
                f" {run.strays} messages to chats outside the participants)"
            )
    lines.append("")
    for run in runs:
        if run.workers > 1:
            verdict = "met" if met_target(run) else "NOT met"
            lines.append(
                f"  Target with {run.workers} workers (>= {TARGET_SHARE:.0%} of"
                f" {TELEGRAM_RATE:g} msg/s, no 429 passed on, none lost, none twice): {verdict}"
            )
    return "\n".join(lines)


async def run(opts: argparse.Namespace) -> int:
    """The whole benchmark; 1 if a several-worker run missed the target."""
    started = time.monotonic()
    sandbox = await asyncio.to_thread(SandboxProcess, opts.participants, False)
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="everystage-fanout-workers-") as tmp:
            for workers in opts.workers:
                print(f"{workers} worker(s): one nudge to {opts.participants:,} ...", flush=True)
                runs.append(
                    await measure(sandbox, opts.storage, workers, opts.participants, Path(tmp))
                )
    finally:
        await asyncio.to_thread(sandbox.stop)
    print(report(runs, opts.participants, opts.storage))
    print(f"(benchmark took {time.monotonic() - started:.0f}s)")
    return 0 if all(met_target(r) for r in runs if r.workers > 1) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout_workers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        default=os.environ.get("EVERYSTAGE_TEST_POSTGRES"),
        help="the PostgreSQL server (default: $EVERYSTAGE_TEST_POSTGRES); a database is created"
        " per run and dropped",
    )
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PARTICIPANTS:,} people")
    opts = parser.parse_args(argv)
    if not opts.storage or not is_postgres(opts.storage):
        parser.error("--storage must name a PostgreSQL server (postgresql://...)")
    opts.workers = [int(w) for w in opts.workers.split(",")]
    if opts.quick:
        opts.participants = QUICK_PARTICIPANTS
    if opts.participants < 1 or min(opts.workers) < 1:
        parser.error("need --participants >= 1 and workers >= 1")
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.fanout_workers."""
    raise SystemExit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
