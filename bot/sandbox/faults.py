"""Fault injection for Bot API calls: 5xx answers, added latency, dropped connections.

Every fault happens BEFORE the method takes effect: a 5xx or a dropped connection means the
message was not sent, so a client that retries never duplicates anything here. Real Telegram can
also fail AFTER acting (a message delivered, then a 502 or a timeout on the way back, so a retry
sends it twice); that case is out of scope for the sandbox.

500 comes as Telegram's JSON error body; 502 as the HTML page of Telegram's nginx front end, as
bots see it in the wild (PTB turns both into NetworkError). getUpdates is spared by default, so
a bot under test still receives updates promptly, unless ``include_get_updates`` is set.
Decisions come from a ``random.Random(seed)``: the same seed and the same sequence of calls give
the same faults.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ApiError
from .params import Params

ERROR_DESCRIPTIONS = {500: "Internal Server Error", 502: "Bad Gateway"}
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ServerFault(ApiError):
    """An injected 5xx; ``html`` is sent instead of the JSON body when set."""

    def __init__(self, code: int) -> None:
        super().__init__(code, ERROR_DESCRIPTIONS.get(code, "Internal Server Error"))
        self.html = NGINX_502 if code == 502 else None


class DroppedConnection(Exception):
    """Close the connection without answering (raised by the fault hook, handled by the server)."""


@dataclass
class Faults:
    """What to inject. Rates are fractions of eligible calls (0..1); latency is seconds."""

    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [500, 502])
    latency: float | list[float] = 0.0  # fixed, or [low, high] drawn uniformly
    drop_rate: float = 0.0
    include_get_updates: bool = False
    methods: list[str] | None = None  # only these methods (None: every Bot API method)
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not self.error_codes or any(not 500 <= c <= 599 for c in self.error_codes):
            raise ValueError("error_codes must be non-empty 5xx codes")
        low, high = self.latency_range
        if not 0 <= low <= high:
            raise ValueError("latency must be seconds >= 0, or [low, high] with low <= high")

    @property
    def latency_range(self) -> tuple[float, float]:
        """(low, high) seconds."""
        if isinstance(self.latency, list | tuple):
            if len(self.latency) != 2:
                raise ValueError("a latency range is [low, high]")
            return float(self.latency[0]), float(self.latency[1])
        return float(self.latency), float(self.latency)

    def applies_to(self, method: str) -> bool:
        """Whether calls to this method can be faulted."""
        if method == "getUpdates" and not self.include_get_updates:
            return False
        return self.methods is None or method in self.methods

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Faults | None = None) -> Faults:
        """Fields from JSON over `base` (default: the defaults); ValueError if invalid."""
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        values = (base or cls()).to_dict()
        values.update(data)
        try:
            latency = values["latency"]
            return cls(
                error_rate=float(values["error_rate"]),
                error_codes=[int(c) for c in values["error_codes"]],
                latency=[float(x) for x in latency]
                if isinstance(latency, list | tuple)
                else float(latency),
                drop_rate=float(values["drop_rate"]),
                include_get_updates=bool(values["include_get_updates"]),
                methods=None if values["methods"] is None else [str(m) for m in values["methods"]],
                seed=None if values["seed"] is None else int(values["seed"]),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid fault settings: {exc}") from None


class FaultInjector:
    """The sandbox hook injecting Faults; off while `faults` is None. Counts what it did."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults: Faults | None = None
        self.rng = random.Random()
        self.reset_stats()
        self.configure(faults)

    @property
    def enabled(self) -> bool:
        """Whether faults are injected."""
        return self.faults is not None

    def configure(self, faults: Faults | None) -> None:
        """Switch faults on (reseeding the random source) or off (None)."""
        self.faults = faults
        self.rng = random.Random(faults.seed if faults else None)

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.eligible = 0
        self.errors: Counter[int] = Counter()
        self.dropped = 0
        self.delayed = 0
        self.latency_total = 0.0
        self.by_method: dict[str, Counter[str]] = {}

    def _count(self, method: str, what: str) -> None:
        self.by_method.setdefault(method, Counter())[what] += 1

    async def __call__(self, method: str, params: Params) -> None:
        """The sandbox hook: maybe wait, then maybe drop the connection or answer a 5xx."""
        faults = self.faults
        if faults is None or not faults.applies_to(method):
            return
        # Draw the same three numbers every call, so one setting does not shift the others.
        low, high = faults.latency_range
        delay = self.rng.uniform(low, high)
        drop, error, pick = self.rng.random(), self.rng.random(), self.rng.random()
        self.eligible += 1
        self._count(method, "eligible")
        if delay > 0:
            self.delayed += 1
            self.latency_total += delay
            await asyncio.sleep(delay)
        if drop < faults.drop_rate:
            self.dropped += 1
            self._count(method, "dropped")
            raise DroppedConnection(method)
        if error < faults.error_rate:
            code = faults.error_codes[int(pick * len(faults.error_codes))]
            self.errors[code] += 1
            self._count(method, "errors")
            raise ServerFault(code)

    def stats(self) -> dict[str, Any]:
        """Counters, JSON-ready."""
        return {
            "eligible": self.eligible,
            "errors": sum(self.errors.values()),
            "errors_by_code": {str(code): n for code, n in sorted(self.errors.items())},
            "dropped": self.dropped,
            "delayed": self.delayed,
            "latency_total": round(self.latency_total, 6),
            "by_method": {
                method: {k: counts[k] for k in ("eligible", "errors", "dropped")}
                for method, counts in sorted(self.by_method.items())
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """The control API view: whether on, the settings, the counters."""
        return {
            "enabled": self.enabled,
            "config": self.faults.to_dict() if self.faults else None,
            "stats": self.stats(),
        }
