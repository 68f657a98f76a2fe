"""Webhook workers on one PostgreSQL: answers/s with 1, 2 and 4 workers, and where the limit is.

    python -m bench.scale --storage postgresql://USER@HOST:PORT/DB [--workers 1,2,4]
                          [--participants 200] [--questions 8] [--quick]

For each worker count, a fresh database is made on the server ``--storage`` names (the role
needs CREATEDB; its password from EVERYSTAGE_STORAGE__PASSWORD or libpq's PGPASSWORD), N real
``everystage run --webhook`` processes start on it, and the sandbox (bench.loadserver, in a
child process) delivers webhooks to them in turn, as a load balancer would. Fresh participants
consent, then all answer as fast as the bot replies (saturation). Printed per worker count:
answers/s, the CPU each component used (workers together, PostgreSQL's processes, the sandbox
and participants) per second and per answer, and which one is the limit. The baseline is the
single worker in the same run. This machine's cores are shared by everything, so the figures
per answer are what to extrapolate from (see README, "When one machine is not enough").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.bots import bench_config
from bench.journey import PostgresCpu, _machine_busy, fresh_postgres, load_server, process_cpu
from bench.workers import WorkerProcess
from storage.db import is_postgres, redacted

ANSWER_PREFIX, CONSENT_PREFIX = "a:", "consent:yes:"
CONCURRENCY = 64


@dataclass
class Figures:
    """One worker count's measurements."""

    workers: int
    answers_per_second: float
    p50: float
    p99: float
    workers_cpu: float  # cores, all workers together
    postgres_cpu: float
    sandbox_cpu: float
    machine_cpu: float | None
    unanswered: int

    def per_answer(self, cores: float) -> float:
        """Milliseconds of CPU per answer for a component using ``cores``."""
        return cores / self.answers_per_second * 1000 if self.answers_per_second else 0.0


async def _worker(
    stack: AsyncExitStack, sandbox_url: str, database_url: str, config: Path, name: str
) -> WorkerProcess:
    """Start one `everystage run --webhook` (stopped when ``stack`` closes) and wait for it."""
    worker = WorkerProcess(name, config.parent / f"{name}.log")
    env = {
        "EVERYSTAGE_TELEGRAM__RATE_LIMIT": "false",
        "EVERYSTAGE_TELEGRAM__CONCURRENT_UPDATES": str(CONCURRENCY),
    }
    await worker.start(sandbox_url, config, database_url, env=env)

    async def stop() -> None:
        try:
            await worker.stop(signal.SIGTERM, within=30)
        except TimeoutError:
            await worker.kill()

    stack.push_async_callback(stop)
    await worker.ready()
    return worker


async def measure(
    control: httpx.AsyncClient,
    sandbox_url: str,
    sandbox_pid: int,
    server: str,
    workers: int,
    opts: argparse.Namespace,
    tmp: Path,
) -> Figures:
    """Start ``workers`` workers on a fresh database and measure a saturation run."""
    workdir = tmp / f"workers-{workers}"
    workdir.mkdir()
    config = workdir / "everystage.toml"
    config.write_text(bench_config(opts.questions), encoding="utf-8")
    base = 50_000_000 + workers * 1_000_000
    users = list(range(base + 1, base + opts.participants + 1))
    async with fresh_postgres(server) as database, AsyncExitStack() as stack:
        started = [
            await _worker(stack, sandbox_url, database, config, f"worker{n}")
            for n in range(1, workers + 1)
        ]
        pids = [w.pid for w in started]
        response = await control.post(
            "/sandbox/webhook", json={"targets": [w.url for w in started]}
        )
        response.raise_for_status()
        prepare = await control.post(
            "/bench/prepare",
            json={
                "users": users,
                "consent_prefix": CONSENT_PREFIX,
                "answer_prefix": ANSWER_PREFIX,
                "timeout": 120,
            },
            timeout=240,
        )
        prepare.raise_for_status()
        pg = PostgresCpu(urlsplit(database).path.strip("/"))
        before = (
            time.monotonic(),
            sum(process_cpu(p) for p in pids),
            pg.read(),
            process_cpu(sandbox_pid),
            _machine_busy(),
        )
        run = await control.post(
            "/bench/run",
            json={
                "users": users,
                "mode": "saturate",
                "answers_per_user": opts.questions,
                "duration": 300,
            },
            timeout=400,
        )
        run.raise_for_status()
        after = (
            time.monotonic(),
            sum(process_cpu(p) for p in pids),
            pg.read(),
            process_cpu(sandbox_pid),
            _machine_busy(),
        )
        measured: dict[str, Any] = run.json()
        await control.post("/sandbox/webhook", json={"targets": []})
    seconds = after[0] - before[0]
    machine = (
        (after[4] - before[4]) / seconds if before[4] is not None and after[4] is not None else None
    )
    # Whole-run rates: the window the load server reports covers replies only, but the
    # workers' CPU is read around the whole run.
    answers = measured.get("replies", 0)
    return Figures(
        workers=workers,
        answers_per_second=answers / seconds if seconds > 0 else 0.0,
        p50=measured.get("p50", 0.0),
        p99=measured.get("p99", 0.0),
        workers_cpu=(after[1] - before[1]) / seconds,
        postgres_cpu=(after[2] - before[2]) / seconds,
        sandbox_cpu=(after[3] - before[3]) / seconds,
        machine_cpu=machine,
        unanswered=measured.get("unanswered", 0),
    )


def _limit(f: Figures) -> str:
    """Which component is the limit: the one closest to the cores it can use."""
    cores = os.cpu_count() or 1
    if f.machine_cpu is not None and f.machine_cpu > 0.9 * cores:
        biggest = max(
            ("workers", f.workers_cpu), ("PostgreSQL", f.postgres_cpu), ("sandbox", f.sandbox_cpu),
            key=lambda kv: kv[1],
        )  # fmt: skip
        return f"machine CPU ({cores} cores busy; most: {biggest[0]})"
    if f.workers_cpu / f.workers > 0.9:
        return "worker CPU (each worker is one Python thread)"
    if f.sandbox_cpu > 0.9:
        return "sandbox CPU (one Python thread)"
    if f.postgres_cpu > 0.9:
        return "PostgreSQL"
    return "none reached (waiting on I/O)"


def report(figures: list[Figures], opts: argparse.Namespace) -> str:
    """The printed table."""
    base = figures[0]
    lines = [
        "",
        "Everystage webhook workers on one PostgreSQL",
        f"  participants={opts.participants}, questions={opts.questions}, saturation;"
        f" CPUs={os.cpu_count()}; PostgreSQL {redacted(opts.storage)}; rate limiter OFF",
        "",
        f"  {'workers':>7}{'answers/s':>11}{'vs 1':>7}{'p50':>9}{'p99':>9}"
        f"{'workers':>10}{'Postgres':>10}{'sandbox':>9}{'machine':>9}   limit",
        f"  {'':>7}{'':>11}{'':>7}{'':>9}{'':>9}{'CPU (cores, ms per answer)':>38}",
    ]
    for f in figures:
        machine = "-" if f.machine_cpu is None else f"{f.machine_cpu:.2f}"
        lines.append(
            f"  {f.workers:>7}{f.answers_per_second:>11.1f}"
            f"{f.answers_per_second / base.answers_per_second:>6.2f}x"
            f"{f.p50 * 1000:>7.0f}ms{f.p99 * 1000:>7.0f}ms"
            f"{f.workers_cpu:>10.2f}{f.postgres_cpu:>10.2f}{f.sandbox_cpu:>9.2f}{machine:>9}"
            f"   {_limit(f)}"
        )
        lines.append(
            f"  {'':>7}{'':>11}{'':>7}{'':>9}{'':>9}"
            f"{f.per_answer(f.workers_cpu):>8.1f}ms{f.per_answer(f.postgres_cpu):>8.1f}ms"
            f"{f.per_answer(f.sandbox_cpu):>7.1f}ms"
        )
        if f.unanswered:
            lines.append(f"  WARNING: {f.unanswered} presses got no reply with {f.workers}")
    best = min(figures, key=lambda f: f.per_answer(f.workers_cpu + f.postgres_cpu))
    worker_ms = best.per_answer(best.workers_cpu)
    pg_ms = best.per_answer(best.postgres_cpu)
    lines += [
        "",
        f"  Per answer (the cheapest run): {worker_ms:.1f} ms of worker CPU and {pg_ms:.1f} ms of"
        " PostgreSQL CPU.",
        f"  So one core of workers serves about {1000 / worker_ms:.0f} answers/s and one core of"
        f" PostgreSQL about {1000 / pg_ms if pg_ms else float('inf'):.0f} answers/s.",
    ]
    return "\n".join(lines)


async def run(opts: argparse.Namespace) -> int:
    """The whole benchmark."""
    figures: list[Figures] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="everystage-scale-") as tmp:
        async with (
            load_server(with_pid=True) as (url, _, pid),
            httpx.AsyncClient(base_url=url, timeout=60) as control,
        ):
            for workers in opts.workers:
                print(f"{workers} worker(s) ...", flush=True)
                figures.append(
                    await measure(control, url, pid, opts.storage, workers, opts, Path(tmp))
                )
    print(report(figures, opts))
    print(f"(benchmark took {time.monotonic() - started:.0f}s)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        default=os.environ.get("EVERYSTAGE_TEST_POSTGRES"),
        help="the PostgreSQL server (postgresql://USER@HOST:PORT/DB; default:"
        " $EVERYSTAGE_TEST_POSTGRES); a database is created per worker count and dropped",
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts (default 1,2,4)")
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="40 participants, 1 and 2 workers")
    opts = parser.parse_args(argv)
    if not opts.storage or not is_postgres(opts.storage):
        parser.error("--storage must name a PostgreSQL server (postgresql://...)")
    opts.workers = [int(w) for w in opts.workers.split(",")]
    if opts.quick:
        opts.participants, opts.workers = 40, [1, 2]
    if opts.questions < 3 or opts.participants < 1 or min(opts.workers) < 1:
        parser.error("need --questions >= 3, --participants >= 1 and workers >= 1")
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.scale."""
    raise SystemExit(asyncio.run(run(parse_args(argv))))


if __name__ == "__main__":
    main()
