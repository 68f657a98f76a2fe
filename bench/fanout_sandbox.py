"""The sandbox for ``python -m bench.fanout``, in its own process, with the participants in it.

python -m bench.fanout_sandbox --first-user 700000001 --users 10000 [--rate-limits] [--validate]

Creating 10,000 users through the control API would take 10,000 HTTP calls, and a user made that
way has not pressed Start (so the bot "can't initiate conversation" with them). Here they are put
straight into ``sandbox.world``, already started. Request validation against the Bot API spec is
off unless ``--validate`` is given: it is the sandbox's own cost, not the bot's, and the benchmark
measures the bot. Prints ``URL <base url>`` once listening; serves until SIGTERM/SIGINT or until
stdin closes (so it never outlives the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path

from bot.sandbox import RateLimits, Sandbox

NO_SPEC = Path("/nonexistent/everystage-bench/api.json")


def build(args: argparse.Namespace) -> Sandbox:
    """A sandbox (not started) that knows ``args.users`` started private chats."""
    sandbox = Sandbox(
        spec_path=None if args.validate else NO_SPEC,
        limits=RateLimits() if args.rate_limits else None,
    )
    for user_id in range(args.first_user, args.first_user + args.users):
        sandbox.world.ensure_user(user_id, f"P{user_id}").started = True
    return sandbox


async def serve(args: argparse.Namespace) -> None:
    """Start, announce the URL, wait for a signal or for stdin to close, stop."""
    sandbox = build(args)
    url = await sandbox.start(args.host, args.port)
    print(f"URL {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent went away
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--first-user", type=int, default=700_000_001)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate-limits", action="store_true", help="start with Telegram's limits")
    parser.add_argument("--validate", action="store_true", help="check requests against the spec")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="sandbox %(levelname)s %(message)s")
    logging.getLogger("bot.sandbox.spec").setLevel(logging.ERROR)  # "spec not found" is wanted
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
