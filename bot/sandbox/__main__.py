"""Run the sandbox standalone: python -m bot.sandbox --port 8081.

Telegram's rate limits and fault injection are off unless asked for, e.g.
python -m bot.sandbox --rate-limits --error-rate 0.2 --latency 0.01-0.05 --drop-rate 0.01 --seed 7
Faults after delivery (the call takes effect, then its answer fails or comes late), e.g.
python -m bot.sandbox --after-error-rate 0.1 --after-drop-rate 0.05 --after-latency 10 \
    --after-latency-rate 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from .faults import Faults
from .limits import RateLimits
from .server import Sandbox


def build_sandbox(args: argparse.Namespace) -> Sandbox:
    """The Sandbox the command line describes (not started)."""
    return Sandbox(
        token=args.token,
        spec_path=args.spec,
        limits=RateLimits() if args.rate_limits else None,
        faults=_faults(args),
    )


async def _serve(args: argparse.Namespace) -> None:
    sandbox = build_sandbox(args)
    url = await sandbox.start(args.host, args.port)
    print(f"Everystage sandbox: {url}", flush=True)
    print(f"  PTB: .base_url('{url}/bot').base_file_url('{url}/file/bot')", flush=True)
    if sandbox.rate_limiter.limits:
        print(f"  rate limits: {sandbox.rate_limiter.limits.to_dict()}", flush=True)
    if sandbox.fault_injector.faults:
        print(f"  faults: {sandbox.fault_injector.faults.to_dict()}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def _faults(args: argparse.Namespace) -> Faults | None:
    before = args.error_rate or args.drop_rate or args.latency != [0.0, 0.0]
    after = args.after_error_rate or args.after_drop_rate or args.after_latency != [0.0, 0.0]
    if not (before or after):
        return None
    return Faults(
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        latency=_seconds(args.latency),
        include_get_updates=args.fault_get_updates,
        seed=args.seed,
        after_error_rate=args.after_error_rate,
        after_drop_rate=args.after_drop_rate,
        after_latency=_seconds(args.after_latency),
        after_latency_rate=args.after_latency_rate,
    )


def _seconds(values: list[float]) -> float | list[float]:
    low, high = values
    return low if low == high else [low, high]


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _latency(text: str) -> list[float]:
    """ "0.05" (fixed) or "0.01-0.2" (uniform range), in seconds."""
    try:
        low, _, high = text.partition("-")
        values = [float(low), float(high or low)]
    except ValueError:
        raise argparse.ArgumentTypeError("seconds, or a range like 0.01-0.2") from None
    if not 0 <= values[0] <= values[1]:
        raise argparse.ArgumentTypeError("need 0 <= low <= high")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, parsed."""
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=None, help="accept only this bot token")
    parser.add_argument("--spec", type=Path, default=None, help="path to the Bot API api.json")
    parser.add_argument("--verbose", action="store_true", help="log every method at DEBUG")
    chaos = parser.add_argument_group("rate limits and faults (all off by default)")
    chaos.add_argument(
        "--rate-limits",
        action="store_true",
        help="enforce Telegram's limits: 30 msg/s overall, ~1/s per chat, 20/min per group",
    )
    chaos.add_argument(
        "--error-rate", type=_rate, default=0.0, help="fraction of calls answered 500/502"
    )
    chaos.add_argument(
        "--latency",
        type=_latency,
        default=[0.0, 0.0],
        help="seconds added before answering: 0.05, or a range 0.01-0.2",
    )
    chaos.add_argument(
        "--drop-rate", type=_rate, default=0.0, help="fraction of connections closed unanswered"
    )
    chaos.add_argument(
        "--fault-get-updates", action="store_true", help="let faults hit getUpdates too"
    )
    chaos.add_argument(
        "--after-error-rate",
        type=_rate,
        default=0.0,
        help="fraction of calls that take effect, then get 500/502",
    )
    chaos.add_argument(
        "--after-drop-rate",
        type=_rate,
        default=0.0,
        help="fraction of calls that take effect, then lose their connection unanswered",
    )
    chaos.add_argument(
        "--after-latency",
        type=_latency,
        default=[0.0, 0.0],
        help="seconds a call that took effect waits before answering: 10, or a range 5-30",
    )
    chaos.add_argument(
        "--after-latency-rate",
        type=_rate,
        default=1.0,
        help="fraction of calls answered --after-latency late (default: all)",
    )
    chaos.add_argument("--seed", type=int, default=None, help="make faults reproducible")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGINT/SIGTERM."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
