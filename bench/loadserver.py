"""The sandbox plus a participant load driver, in one process: python -m bench.loadserver.

The driver acts on ``sandbox.world`` directly, so a simulated press costs no HTTP round trip
and the moment a bot's message arrives is seen as it happens. It adds three routes to the
sandbox's own aiohttp app (before it starts):

* ``GET  /bench/info``    whether the sandbox validates requests (the benchmark wants it off)
* ``POST /bench/prepare`` ``{users, start_text, consent_prefix, answer_prefix, timeout}``:
  create the users, send ``start_text`` for each, press the consent button if one shows up,
  and return once every user has a question waiting.
* ``POST /bench/run`` ``{users, mode: "saturate"|"rate", answers_per_user, rate, duration,
  warmup}``: press answer buttons and return the measurements.

"Time to reply" is measured from the moment a press becomes a pending update (what getUpdates
hands out) to the moment the bot's next ``sendMessage`` in that chat reaches the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.sandbox import Sandbox
from bot.sandbox.formatting import command_entities
from bot.sandbox.models import Chat
from bot.sandbox.server import Notifier

log = logging.getLogger("bench.loadserver")

NO_SPEC = Path("/nonexistent/everystage-bench/api.json")  # a missing spec turns validation off


@dataclass
class Question:
    """A message with answer buttons that the user has not pressed yet."""

    message_id: int
    answers: list[str]


@dataclass
class Reply:
    """One press and the bot's reply to it (monotonic seconds, shared across processes)."""

    pressed: float
    replied: float
    cpu: float  # this process's CPU seconds when the reply arrived

    @property
    def latency(self) -> float:
        """Seconds from update to reply."""
        return self.replied - self.pressed


@dataclass
class _Run:
    users: set[int]
    mode: str
    answers_per_user: int
    presses: dict[int, int] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    ready: deque[int] = field(default_factory=deque)
    skipped: int = 0
    total: int = 0  # presses so far


class Driver:
    """Simulated participants that react to what the bot sends."""

    def __init__(self, sandbox: Sandbox, seed: int = 1) -> None:
        self.sandbox = sandbox
        self.world = sandbox.world
        self.rng = random.Random(seed)
        self.answer_prefix = "a:"
        self.consent_prefix: str | None = None
        self.waiting: dict[int, Question] = {}
        self.pending: dict[int, float] = {}  # chat -> when its press became an update
        self.run: _Run | None = None
        self.changed = Notifier()  # woken whenever the bot sends or edits something
        self._send = self.world.bot_send
        self._edit = self.world.bot_edit
        # Instance attributes shadow the methods: BotApi calls these for every send and edit.
        self.world.bot_send = self._on_send  # type: ignore[method-assign]
        self.world.bot_edit = self._on_edit  # type: ignore[method-assign]

    # -- what the bot does ------------------------------------------------------------------

    def _on_send(self, chat: Chat, content: dict[str, Any]) -> dict[str, Any]:
        message = self._send(chat, content)
        now = time.monotonic()
        self.changed.notify()
        pressed = self.pending.pop(chat.id, None)
        if pressed is not None and self.run is not None:
            self.run.replies.append(Reply(pressed, now, time.process_time()))
        self._look_at(chat.id, message)
        return message

    def _on_edit(self, chat: Chat, message_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        message = self._edit(chat, message_id, changes)
        self.changed.notify()
        self._look_at(chat.id, message)
        return message

    def _look_at(self, chat_id: int, message: dict[str, Any]) -> None:
        """React to a bot message: press consent, or note (and maybe answer) a question."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        data = [b["callback_data"] for row in rows for b in row if b.get("callback_data")]
        if self.consent_prefix is not None:
            agree = [d for d in data if d.startswith(self.consent_prefix)]
            if agree:
                loop = asyncio.get_running_loop()
                loop.call_soon(self._press_data, chat_id, message["message_id"], agree[0])
                return
        answers = [d for d in data if d.startswith(self.answer_prefix) and not d.endswith(":s")]
        if not answers:
            if self.waiting.get(chat_id, Question(0, [])).message_id == message["message_id"]:
                del self.waiting[chat_id]  # its buttons were removed
            return
        self.waiting[chat_id] = Question(message["message_id"], answers)
        run = self.run
        if run is None or chat_id not in run.users or not self._has_answers_left(run, chat_id):
            return
        if run.mode == "saturate":
            asyncio.get_running_loop().call_soon(self._press, chat_id)
        else:
            run.ready.append(chat_id)

    # -- what the participants do -----------------------------------------------------------

    def _has_answers_left(self, run: _Run, chat_id: int) -> bool:
        return run.presses.get(chat_id, 0) < run.answers_per_user

    def _press(self, chat_id: int) -> None:
        """Answer the waiting question with one of its (non-skip) buttons."""
        question = self.waiting.pop(chat_id, None)
        if question is None or chat_id in self.pending:
            return
        if self.run is not None:
            self.run.presses[chat_id] = self.run.presses.get(chat_id, 0) + 1
            self.run.total += 1
        self.world.press(chat_id, question.message_id, self.rng.choice(question.answers))
        self.pending[chat_id] = time.monotonic()

    def _press_data(self, chat_id: int, message_id: int, data: str) -> None:
        self.world.press(chat_id, message_id, data)

    # -- the endpoints ----------------------------------------------------------------------

    async def prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create users, send /start, agree to consent; wait until each has a question."""
        users = [int(u) for u in body["users"]]
        self.answer_prefix = str(body.get("answer_prefix", "a:"))
        self.consent_prefix = body.get("consent_prefix")
        text = str(body.get("start_text", "/start"))
        started = time.monotonic()
        for user_id in users:
            self.world.ensure_user(user_id, f"P{user_id}")
            content: dict[str, Any] = {"text": text}
            if entities := command_entities(text):
                content["entities"] = entities
            self.world.user_message(user_id, content)
        deadline = started + float(body.get("timeout", 120))
        while time.monotonic() < deadline and any(u not in self.waiting for u in users):
            await self.changed.wait(deadline - time.monotonic())
        self.consent_prefix = None
        ready = sum(u in self.waiting for u in users)
        self.sandbox.reset_log()
        return {"users": len(users), "ready": ready, "seconds": time.monotonic() - started}

    async def measure(self, body: dict[str, Any]) -> dict[str, Any]:
        """One measured phase: saturation or a steady offered rate."""
        users = [int(u) for u in body["users"]]
        mode = str(body["mode"])
        duration = float(body.get("duration", 20))
        run = self.run = _Run(set(users), mode, int(body.get("answers_per_user", 1_000_000)))
        self.pending.clear()
        started, cpu_started = time.monotonic(), time.process_time()
        try:
            if mode == "saturate":
                for user_id in users:
                    if user_id in self.waiting:
                        self._press(user_id)
                await self._until_done(run, started + duration)
            elif mode == "rate":
                await self._offer(run, users, float(body["rate"]), duration)
            else:
                raise web.HTTPBadRequest(text=f"unknown mode {mode!r}")
        finally:
            self.run = None
        unanswered = len(self.pending)
        self.pending.clear()
        self.sandbox.reset_log()
        result = summarise(run, float(body.get("warmup", 0.0)), len(users))
        result |= {
            "mode": mode,
            "presses": run.total,
            "unanswered": unanswered,
            "skipped_ticks": run.skipped,
            "wall": time.monotonic() - started,
            "sandbox_cpu_total": time.process_time() - cpu_started,
        }
        return result

    async def _until_done(self, run: _Run, deadline: float) -> None:
        """Saturation ends when every user used its answers (or at the deadline)."""
        wanted = len(run.users) * run.answers_per_user
        while time.monotonic() < deadline and (self.pending or run.total < wanted):
            await self.changed.wait(deadline - time.monotonic())

    async def _offer(self, run: _Run, users: list[int], rate: float, duration: float) -> None:
        """Press at ``rate`` per second overall, each time for the next user with a question."""
        run.ready.extend(u for u in users if u in self.waiting)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for k in range(round(rate * duration)):
            delay = t0 + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            while run.ready and run.ready[0] not in self.waiting:
                run.ready.popleft()
            if run.ready:
                self._press(run.ready.popleft())
            else:
                run.skipped += 1
        drain = time.monotonic() + 15
        while self.pending and time.monotonic() < drain:
            await self.changed.wait(drain - time.monotonic())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def summarise(run: _Run, warmup: float, n_users: int) -> dict[str, Any]:
    """Throughput over the steady part of a saturation run; latencies after the warm-up."""
    replies = sorted(run.replies, key=lambda r: r.replied)
    out: dict[str, Any] = {"replies": len(replies)}
    if not replies:
        return out
    if run.mode == "saturate" and len(replies) > 2 * n_users + 1:
        # Warm-up: the first answer of each user; cool-down: the last one of each.
        first, last = replies[n_users - 1], replies[len(replies) - n_users - 1]
        span = last.replied - first.replied
        out["window_answers"] = len(replies) - 2 * n_users
        out["window_seconds"] = span
        out["window_start"], out["window_end"] = first.replied, last.replied
        out["answers_per_second"] = out["window_answers"] / span if span > 0 else 0.0
        out["sandbox_cpu"] = (last.cpu - first.cpu) / span if span > 0 else 0.0
        steady = replies[n_users : len(replies) - n_users]
    else:
        t0 = min(r.pressed for r in replies)
        steady = [r for r in replies if r.pressed >= t0 + warmup] or replies
        span = replies[-1].replied - replies[0].replied
        out["answers_per_second"] = len(replies) / span if span > 0 else 0.0
        out["window_start"], out["window_end"] = replies[0].replied, replies[-1].replied
        out["sandbox_cpu"] = (replies[-1].cpu - replies[0].cpu) / span if span > 0 else 0.0
    latencies = [r.latency for r in steady]
    out["latency_samples"] = len(latencies)
    out["latencies"] = latencies
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        out[name] = percentile(latencies, q)
    return out


def add_bench_routes(sandbox: Sandbox, driver: Driver) -> None:
    """Register /bench/ routes on the sandbox's app (call before ``sandbox.start``)."""

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"validating": sandbox.validating})

    async def prepare(request: web.Request) -> web.Response:
        return web.json_response(await driver.prepare(await request.json()))

    async def run(request: web.Request) -> web.Response:
        return web.json_response(await driver.measure(await request.json()))

    sandbox.app.router.add_get("/bench/info", info)
    sandbox.app.router.add_post("/bench/prepare", prepare)
    sandbox.app.router.add_post("/bench/run", run)


async def serve(host: str, port: int, exit_on_stdin_close: bool = False) -> None:
    """Run the sandbox and the driver until SIGINT/SIGTERM; print READY <url> once up."""
    sandbox = Sandbox(spec_path=NO_SPEC, callback_query_ttl=60.0)
    add_bench_routes(sandbox, Driver(sandbox))
    url = await sandbox.start(host, port)
    print(f"READY {url} validating={sandbox.validating}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if exit_on_stdin_close:  # never outlive the benchmark that started us

        def watch() -> None:
            while os.read(0, 4096):  # raw reads: no buffered-reader lock at shutdown
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.loadserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--exit-on-stdin-close", action="store_true", help="stop when stdin reaches EOF"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("bot.sandbox.spec").setLevel(logging.ERROR)  # "no spec" is intended
    asyncio.run(serve(args.host, args.port, args.exit_on_stdin_close))


if __name__ == "__main__":
    main()
