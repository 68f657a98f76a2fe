"""Replies during a broadcast: update->reply for people answering while a fan-out runs.

    python -m bench.replies [--fan-out 10000] [--people 50] [--rate 10] [--duration 30]
                            [--quick] [--storage postgresql://USER@HOST:PORT/DB]

A child process runs the sandbox with Telegram's limits ON (30 messages/s overall, about 1/s
per chat: bot/sandbox/limits.py), the ``--fan-out`` participants already started there, and
bench.loadserver's simulated participants. This process runs the real Everystage Application
(``rate_limit = true``: bot/budget.py's BudgetLimiter) with a fake clock at Monday 10:30, when
the benchmark check-in's weekly nudge (Monday 10:00) is due for the fan-out participants
(written straight into the database, consented two days before) and not for the ``--people``
who answer (they consent through the sandbox at 10:30, after it was due).

In one run, the same people, at the same offered rate (``--rate`` answers a second among
them, each press for the next person with a question waiting):

1. **alone**: no fan-out; ``--duration`` seconds;
2. **during**: one ``outreach.tick`` sends the nudge to the fan-out participants; once it is
   under way, the same measurement again (checked to have ended before the fan-out did);
3. **alone again** once the fan-out has finished, so drift over the run shows.

"update->reply" is from the moment a press becomes a pending update to the moment the bot's
next sendMessage in that chat reaches the sandbox (bench/loadserver.py). The baseline is 1 and
3 together. Target: p99 during <= 2x the baseline. Also printed: the fan-out's messages/s on
the sandbox's clock (Telegram allows about 30; the replies take their share first), everything
the bot sent per second while the fan-out ran, the 429s the sandbox returned and those that
reached Everystage's code, and duplicates and losses among the fan-out's messages.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.loadserver import NO_SPEC, Driver, add_bench_routes, percentile

NOW = datetime(2026, 11, 16, 10, 30, tzinfo=UTC)  # a Monday, 10:30 in London
FIRST_FAN_OUT = 720_000_001
FIRST_PERSON = 730_000_001
P99_TARGET = 2.0  # during / alone, at most
RATE_TARGET = 30.0  # Telegram's messages/s to different chats
QUICK_FAN_OUT = 1500
RUN_SLACK = 60.0


# ---------------------------------------------------------------------------------------------
# The child: sandbox with limits, fan-out users, simulated participants.


def _sandbox_child(args: argparse.Namespace) -> None:
    from aiohttp import web

    from bot.sandbox import RateLimits, Sandbox

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("bot.sandbox.spec").setLevel(logging.ERROR)  # "no spec" is intended

    async def serve() -> None:
        sandbox = Sandbox(spec_path=NO_SPEC, callback_query_ttl=60.0, limits=RateLimits())
        first, last = args.first_user, args.first_user + args.users
        for user_id in range(first, last):
            sandbox.world.ensure_user(user_id, f"F{user_id}").started = True
        driver = Driver(sandbox)
        add_bench_routes(sandbox, driver)
        # Every message the bot posts or edits: (monotonic time, whether to a fan-out chat).
        sent: list[tuple[float, bool]] = []
        on_send, on_edit = sandbox.world.bot_send, sandbox.world.bot_edit

        def send(chat: Any, content: dict[str, Any]) -> dict[str, Any]:
            sent.append((time.monotonic(), first <= chat.id < last))
            return on_send(chat, content)

        def edit(chat: Any, message_id: int, changes: dict[str, Any]) -> dict[str, Any]:
            sent.append((time.monotonic(), False))
            return on_edit(chat, message_id, changes)

        sandbox.world.bot_send = send  # type: ignore[method-assign]
        sandbox.world.bot_edit = edit  # type: ignore[method-assign]

        async def fanout(request: web.Request) -> web.Response:
            """The fan-out so far; ``?full=1`` adds per-chat counts and the timeline."""
            body: dict[str, Any] = {
                "sent": sum(1 for _, ours in sent if ours),
                "limits": sandbox.rate_limiter.stats(),
            }
            if request.query.get("full"):
                per_chat = Counter()
                for user_id in range(first, last):
                    chat = sandbox.world.chats.get(user_id)
                    if chat is not None:
                        per_chat[
                            sum(1 for m in chat.messages.values() if m["from"].get("is_bot"))
                        ] += 1
                body["per_chat"] = {str(k): v for k, v in per_chat.items()}
                body["timeline"] = sent
            return web.json_response(body)

        async def reset(request: web.Request) -> web.Response:
            sent.clear()
            sandbox.rate_limiter.reset_stats()
            return web.json_response({})

        sandbox.app.router.add_get("/bench/fanout", fanout)
        sandbox.app.router.add_post("/bench/fanout/reset", reset)
        url = await sandbox.start(args.host, 0)
        print(f"READY {url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def watch() -> None:
            while os.read(0, 4096):  # the parent holds our stdin: EOF means it went away
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
        try:
            await stop.wait()
        finally:
            await sandbox.stop()

    asyncio.run(serve())


@asynccontextmanager
async def sandbox_process(fan_out: int) -> AsyncIterator[tuple[str, int]]:
    """The child above; its URL and process id."""
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bench.replies", "--sandbox-child"),
        *("--first-user", str(FIRST_FAN_OUT), "--users", str(fan_out)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode()
        match = re.match(r"READY (\S+)", line)
        if match is None:
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield match.group(1), child.pid
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.terminate()
            await child.wait()


# ---------------------------------------------------------------------------------------------
# The bot.


def config_text(questions: int) -> str:
    """bench/bots.py's check-in, with the limiter on and a weekly nudge (Monday 10:00)."""
    from bench.bots import bench_config

    text = bench_config(questions).replace("rate_limit = false", "rate_limit = true")
    anchor = 'title = "Benchmark check-in"\n'
    schedule = 'schedule = [{ kind = "weekly", days = ["mon"], time = "10:00" }]\n'
    text = text.replace(anchor, anchor + schedule)
    # The nudge job waits an hour: the benchmark says when the tick happens.
    return text + "\n[nudges]\ncheck_every_seconds = 3600\n"


def build(url: str, workdir: Path, questions: int, database_url: str | None) -> Any:
    """The real Application, with the fake clock at NOW."""
    from bench.bots import point_at
    from bot.app import build_application
    from bot.clock import FakeClock
    from bot.settings import load_settings

    config = workdir / "everystage.toml"
    config.write_text(config_text(questions), encoding="utf-8")
    point_at(url, workdir, database_url, rate_limit=True)
    settings = load_settings(config)
    assert settings.telegram.rate_limit
    return build_application(settings, clock=FakeClock(NOW))


async def add_fan_out(app: Any, n: int) -> None:
    """``n`` participants who consented two days before NOW, straight into the database."""
    from bot.services import services_of
    from storage.db import utc_text

    joined = utc_text(NOW - timedelta(days=2))
    rows = [(f"{k:032x}", f"F-{k:06d}", FIRST_FAN_OUT + k, joined, joined) for k in range(n)]
    async with services_of(app).db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO participants (id, pseudonym, chat_id, status, consent_version,"
            " consented_at, created_at) VALUES (?, ?, ?, 'active', 1, ?, ?)",
            rows,
        )


# ---------------------------------------------------------------------------------------------
# The run.


def _json(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    return response.json()


async def measure(
    control: httpx.AsyncClient, people: list[int], opts: argparse.Namespace
) -> dict[str, Any]:
    """One phase at the steady offered rate: the load server's figures."""
    body = {
        "users": people,
        "mode": "rate",
        "rate": opts.rate,
        "duration": opts.duration,
        "warmup": min(1.0, opts.duration / 10),
    }
    return _json(await control.post("/bench/run", json=body, timeout=opts.duration + RUN_SLACK))


async def run(opts: argparse.Namespace, out: Any = print) -> dict[str, Any]:
    """The whole benchmark; the figures."""
    from bench.journey import fresh_postgres
    from bot import outreach
    from bot.app import NUDGE_JOB, RETENTION_JOB, serving
    from bot.handlers.weekly_digest import CATCH_UP_JOB, WEEKLY_JOB

    logging.basicConfig(level=logging.WARNING, format="bot %(name)s %(levelname)s %(message)s")
    started = time.monotonic()
    people = list(range(FIRST_PERSON, FIRST_PERSON + opts.people))
    figures: dict[str, Any] = {"fan_out": opts.fan_out, "people": opts.people}
    async with (
        sandbox_process(opts.fan_out) as (url, _),
        httpx.AsyncClient(base_url=url) as control,
    ):
        out(f"sandbox (Telegram's limits ON) at {url}; {opts.fan_out} fan-out participants")
        with tempfile.TemporaryDirectory(prefix="everystage-replies-") as tmp:
            async with _database(opts, fresh_postgres) as database_url:
                app = build(url, Path(tmp), opts.questions, database_url)
                if opts.old_limiter:
                    app.bot._rate_limiter = _old_limiter()
                async with serving(app, poll_timeout=10) as running:
                    assert running.job_queue is not None
                    for name in (NUDGE_JOB, RETENTION_JOB, WEEKLY_JOB, CATCH_UP_JOB):
                        for job in running.job_queue.get_jobs_by_name(name):
                            job.schedule_removal()
                    await add_fan_out(running, opts.fan_out)
                    prepared = _json(
                        await control.post(
                            "/bench/prepare",
                            json={
                                "users": people,
                                "consent_prefix": "consent:yes:",
                                "answer_prefix": "a:",
                                "timeout": 120,
                            },
                            timeout=120 + RUN_SLACK,
                        )
                    )
                    if prepared["ready"] != len(people):
                        out(f"WARNING: only {prepared['ready']} of {len(people)} people ready")
                    await control.post("/bench/fanout/reset")
                    out(f"1/3 {opts.people} people answering, {opts.rate}/s, no fan-out ...")
                    figures["alone"] = await measure(control, people, opts)

                    out(f"2/3 the same while the nudge goes to {opts.fan_out} people ...")
                    tick_started = time.monotonic()
                    tick = asyncio.ensure_future(outreach.tick(running))
                    while (await _fanout(control))["sent"] < min(100, opts.fan_out // 10):
                        if tick.done():
                            break
                        await asyncio.sleep(0.1)
                    figures["during"] = await measure(control, people, opts)
                    figures["sent_when_measured"] = (await _fanout(control))["sent"]
                    report = await tick
                    figures["tick_seconds"] = time.monotonic() - tick_started
                    figures["tick"] = {
                        "sent": report.sent,
                        "failed": report.failed,
                        "deferred": report.deferred,
                        "errors": list(report.errors),
                    }
                    figures["fanout"] = _json(await control.get("/bench/fanout?full=1"))
                    figures["limiter"] = dict(getattr(running.bot.rate_limiter, "counts", {}))
                    figures["limiter"]["retry_after_in_tick"] = report.errors.count("RetryAfter")

                    out("3/3 alone again ...")
                    figures["after"] = await measure(control, people, opts)
    figures["seconds"] = time.monotonic() - started
    return figures


def _old_limiter() -> Any:
    """What bot/telegram_bot.py used before bot/budget.py: one pace for every request, 29/s
    (PTB's AIORateLimiter; the broadcast's ``rate_limit_args`` mean nothing to it)."""
    from telegram.ext import AIORateLimiter

    class Old(AIORateLimiter):
        async def process_request(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["rate_limit_args"] = None
            return await super().process_request(*args, **kwargs)

    return Old(overall_max_rate=29, max_retries=3)


@asynccontextmanager
async def _database(opts: argparse.Namespace, fresh_postgres: Any) -> AsyncIterator[str | None]:
    if opts.storage:
        async with fresh_postgres(opts.storage) as url:
            yield url
    else:
        yield None


async def _fanout(control: httpx.AsyncClient) -> dict[str, Any]:
    return _json(await control.get("/bench/fanout"))


# ---------------------------------------------------------------------------------------------
# The table.


def summary(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers from the raw figures."""
    alone = figures["alone"].get("latencies", []) + figures["after"].get("latencies", [])
    during = figures["during"].get("latencies", [])
    out: dict[str, Any] = {}
    if alone and during:
        out["p50_alone"], out["p99_alone"] = percentile(alone, 50), percentile(alone, 99)
        out["p50_during"], out["p99_during"] = percentile(during, 50), percentile(during, 99)
        out["ratio"] = out["p99_during"] / out["p99_alone"]
    timeline = figures["fanout"]["timeline"]
    ours = [t for t, fan in timeline if fan]
    if len(ours) > 1:
        out["fanout_rate"] = (len(ours) - 1) / (ours[-1] - ours[0])
        inside = [t for t, _ in timeline if ours[0] <= t <= ours[-1]]
        out["all_rate"] = (len(inside) - 1) / (ours[-1] - ours[0])
        window = figures["during"]
        if "window_start" in window:
            start, end = window["window_start"], window["window_end"]
            fan_in = [t for t in ours if start <= t <= end]
            all_in = [t for t, _ in timeline if start <= t <= end]
            span = end - start
            out["fanout_rate_during"] = len(fan_in) / span if span > 0 else 0.0
            out["all_rate_during"] = len(all_in) / span if span > 0 else 0.0
        alone_ours = [t for t in ours if t > end] if "window_start" in window else []
        if len(alone_ours) > 1:
            out["fanout_rate_alone"] = (len(alone_ours) - 1) / (alone_ours[-1] - alone_ours[0])
    per_chat = {int(k): v for k, v in figures["fanout"].get("per_chat", {}).items()}
    out["lost"] = figures["fan_out"] - sum(per_chat.values()) + per_chat.get(0, 0)
    out["duplicated"] = sum(v for k, v in per_chat.items() if k > 1)
    out["limited"] = figures["fanout"]["limits"]["limited"]
    limiter = figures["limiter"]
    out["surfaced"] = max(limiter.get("surfaced", 0), limiter.get("retry_after_in_tick", 0))
    return out


def report(figures: dict[str, Any], opts: argparse.Namespace) -> str:
    """The printed table."""
    s = summary(figures)
    ms = lambda v: f"{v * 1000:.0f} ms" if v is not None else "-"  # noqa: E731
    rows = [
        f"Replies during a broadcast: {opts.people} people answering at {opts.rate:g}/s,"
        f" a fan-out to {opts.fan_out} ({'PostgreSQL' if opts.storage else 'SQLite'};"
        f" {'AIORateLimiter, as before' if opts.old_limiter else 'BudgetLimiter'})",
        f"{'Figure':<48}{'Value':>14}{'Target':>12}   Result",
        "-" * 84,
    ]

    def row(name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        result = "" if ok is None else ("PASS" if ok else "MISS")
        rows.append(f"{name:<48}{value:>14}{target:>12}   {result}")

    if "ratio" in s:
        row("p99 update->reply, no fan-out (baseline)", ms(s["p99_alone"]))
        row("p99 update->reply, during the fan-out", ms(s["p99_during"]))
        row(
            "  ratio during / baseline",
            f"{s['ratio']:.2f}x",
            f"<= {P99_TARGET:g}x",
            s["ratio"] <= P99_TARGET,
        )
        row("p50 update->reply, baseline / during", f"{ms(s['p50_alone'])} / {ms(s['p50_during'])}")
        counts = [len(figures[k].get("latencies", [])) for k in ("alone", "during", "after")]
        row("  (replies measured: before, during, after)", " / ".join(map(str, counts)))
        before, after = (
            percentile(figures[k]["latencies"], 99) if figures[k].get("latencies") else 0
            for k in ("alone", "after")
        )
        row("  (p99 before / after the fan-out)", f"{ms(before)} / {ms(after)}")
    if "fanout_rate" in s:
        row("fan-out messages/s, whole fan-out", f"{s['fanout_rate']:.2f}", f"vs {RATE_TARGET:g}")
        row(
            "  everything the bot sent meanwhile, msg/s",
            f"{s['all_rate']:.2f}",
            f"<= {RATE_TARGET:g}",
            s["all_rate"] <= RATE_TARGET,
        )
        if "fanout_rate_during" in s:
            row("  while the people answered: fan-out msg/s", f"{s['fanout_rate_during']:.2f}")
            row("  while the people answered: all msg/s", f"{s['all_rate_during']:.2f}")
        if "fanout_rate_alone" in s:
            row(
                "  after they stopped: fan-out msg/s",
                f"{s['fanout_rate_alone']:.2f}",
                ">= 28.5",
                s["fanout_rate_alone"] >= 28.5,
            )
    row("429s the sandbox returned", str(s["limited"]))
    row("429s reaching Everystage's code", str(s["surfaced"]), "0", s["surfaced"] == 0)
    row(
        "fan-out messages lost / duplicated",
        f"{s['lost']} / {s['duplicated']}",
        "0 / 0",
        s["lost"] == 0 and s["duplicated"] == 0,
    )
    measured_inside = figures["sent_when_measured"] < figures["fan_out"]
    row("  (the fan-out outlasted the 'during' phase)", "yes" if measured_inside else "NO")
    row("  (fan-out tick, s)", f"{figures['tick_seconds']:.1f}")
    rows.append(f"(benchmark took {figures['seconds']:.0f}s)")
    if not measured_inside:
        rows.append("WARNING: the fan-out ended before the 'during' phase did; raise --fan-out")
    for phase in ("alone", "during", "after"):
        if figures[phase].get("unanswered"):
            rows.append(
                f"WARNING: {figures[phase]['unanswered']} presses never got a reply ({phase})"
            )
        if figures[phase].get("skipped_ticks"):
            rows.append(
                f"WARNING: {figures[phase]['skipped_ticks']} ticks found nobody waiting ({phase})"
            )
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.replies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--fan-out", type=int, default=10_000, help="nudged participants (10000)")
    parser.add_argument("--people", type=int, default=50, help="people answering (50)")
    parser.add_argument("--rate", type=float, default=10.0, help="answers a second among them (10)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per phase (30)")
    parser.add_argument("--questions", type=int, default=60, help="questions in the check-in (60)")
    parser.add_argument("--storage", metavar="URL", help="run on this PostgreSQL server instead")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_FAN_OUT} fan-out, 10 s phases"
    )
    parser.add_argument(
        "--old-limiter",
        action="store_true",
        help="for comparison: PTB's AIORateLimiter at 29/s, as before bot/budget.py",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--sandbox-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-user", type=int, default=FIRST_FAN_OUT, help=argparse.SUPPRESS)
    parser.add_argument("--users", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.quick:
        opts.fan_out, opts.duration = QUICK_FAN_OUT, 10.0
    if opts.people < 1 or opts.fan_out < 1 or opts.rate <= 0 or opts.duration <= 0:
        parser.error("--people, --fan-out, --rate and --duration must be positive")
    needed = 3 * opts.rate * opts.duration / opts.people + 2
    if opts.questions < needed:
        parser.error(f"--questions must be at least {needed:.0f} for that rate and duration")
    return opts


def main(argv: list[str] | None = None) -> None:
    """python -m bench.replies."""
    opts = parse_args(argv)
    if opts.sandbox_child:
        _sandbox_child(opts)
        return
    figures = asyncio.run(run(opts))
    print(report(figures, opts))
    if opts.json:
        import json

        opts.json.write_text(json.dumps(figures | {"summary": summary(figures)}), encoding="utf-8")


if __name__ == "__main__":
    main()
