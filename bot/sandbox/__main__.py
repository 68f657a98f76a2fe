"""Run the sandbox standalone: python -m bot.sandbox --port 8081."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from .server import Sandbox


async def _serve(args: argparse.Namespace) -> None:
    sandbox = Sandbox(token=args.token, spec_path=args.spec)
    url = await sandbox.start(args.host, args.port)
    print(f"Everystage sandbox: {url}", flush=True)
    print(f"  PTB: .base_url('{url}/bot').base_file_url('{url}/file/bot')", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this bot token")
    parser.add_argument("--spec", type=Path, default=None, help="path to the Bot API api.json")
    parser.add_argument("--verbose", action="store_true", help="log every method at DEBUG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
