"""Fault injection for Bot API calls: 5xx answers, added latency, dropped connections.

Two moments can go wrong, as on real Telegram:

* BEFORE the method takes effect (``error_rate``, ``drop_rate``, ``latency``): a 5xx or a
  dropped connection means nothing happened, so a client that retries duplicates nothing.
* AFTER it took effect (``after_error_rate``, ``after_drop_rate``, ``after_latency`` with
  ``after_latency_rate``): the message is stored, its events are emitted, a callback answer is
  recorded, and only then does the client get a 5xx, see the connection close unanswered, or get
  its answer ``after_latency`` seconds late (beyond a short read timeout, the client gives up).
  A client that retries blindly now sends twice. Only calls that succeeded are eligible; each
  gets at most one after-fault: a drop, else an error, else a late answer. The request log marks
  them ``"delivered": true`` (with ``"ok": false`` for errors and drops; ``"late"`` seconds and,
  once answered, ``"abandoned"``: whether the client had hung up by then). The counters
  (``stats()["after"]`` and ``by_method``) count every after-fault and ``delivered_then_failed``:
  errors, drops and late answers nobody was waiting for any more.

500 comes as Telegram's JSON error body; 502 as the HTML page of Telegram's nginx front end, as
bots see it in the wild (PTB turns both into NetworkError). getUpdates is spared by default, so
a bot under test still receives updates promptly, unless ``include_get_updates`` is set (then an
after-fault on getUpdates loses a batch of updates on the way back: they stay unconfirmed and
come again). Decisions come from ``random.Random(seed)`` sources (one for before, one for after,
so switching after-faults on does not change the before-faults a seed gives): the same seed and
the same sequence of calls give the same faults.
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


@dataclass(frozen=True)
class AfterFault:
    """What goes wrong on the way back from a call that took effect."""

    kind: str  # "drop", "error" or "late"
    code: int = 0  # the 5xx of an "error"
    delay: float = 0.0  # the seconds a "late" answer is held back


def _latency_range(value: float | list[float], name: str) -> tuple[float, float]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"a {name} range is [low, high]")
        return float(value[0]), float(value[1])
    return float(value), float(value)


def _latency_value(value: Any) -> float | list[float]:
    if isinstance(value, list | tuple):
        return [float(x) for x in value]
    return float(value)


@dataclass
class Faults:
    """What to inject. Rates are fractions of eligible calls (0..1); latency is seconds.

    ``error_rate``, ``drop_rate`` and ``latency`` strike before the method takes effect; the
    ``after_`` fields after it did (see the module docstring). ``error_codes`` serve both.
    """

    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [500, 502])
    latency: float | list[float] = 0.0  # fixed, or [low, high] drawn uniformly
    drop_rate: float = 0.0
    include_get_updates: bool = False
    methods: list[str] | None = None  # only these methods (None: every Bot API method)
    seed: int | None = None
    after_error_rate: float = 0.0  # took effect, then a 5xx
    after_drop_rate: float = 0.0  # took effect, then the connection closes unanswered
    after_latency: float | list[float] = 0.0  # took effect, then the answer waits this long
    after_latency_rate: float = 1.0  # the fraction of calls whose answer waits after_latency

    def __post_init__(self) -> None:
        for name in (
            "error_rate",
            "drop_rate",
            "after_error_rate",
            "after_drop_rate",
            "after_latency_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not self.error_codes or any(not 500 <= c <= 599 for c in self.error_codes):
            raise ValueError("error_codes must be non-empty 5xx codes")
        for name in ("latency", "after_latency"):
            low, high = _latency_range(getattr(self, name), name)
            if not 0 <= low <= high:
                raise ValueError(f"{name} must be seconds >= 0, or [low, high] with low <= high")

    @property
    def latency_range(self) -> tuple[float, float]:
        """(low, high) seconds added before the method runs."""
        return _latency_range(self.latency, "latency")

    @property
    def after_latency_range(self) -> tuple[float, float]:
        """(low, high) seconds a late answer is held back after the method ran."""
        return _latency_range(self.after_latency, "after_latency")

    @property
    def acts_after(self) -> bool:
        """Whether any after-delivery fault is configured."""
        return bool(
            self.after_error_rate
            or self.after_drop_rate
            or (self.after_latency_rate and self.after_latency_range[1] > 0)
        )

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
            return cls(
                error_rate=float(values["error_rate"]),
                error_codes=[int(c) for c in values["error_codes"]],
                latency=_latency_value(values["latency"]),
                drop_rate=float(values["drop_rate"]),
                include_get_updates=bool(values["include_get_updates"]),
                methods=None if values["methods"] is None else [str(m) for m in values["methods"]],
                seed=None if values["seed"] is None else int(values["seed"]),
                after_error_rate=float(values["after_error_rate"]),
                after_drop_rate=float(values["after_drop_rate"]),
                after_latency=_latency_value(values["after_latency"]),
                after_latency_rate=float(values["after_latency_rate"]),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid fault settings: {exc}") from None


_AFTER_COUNTERS = ("after_eligible", "after_errors", "after_dropped", "late", "late_abandoned")


class FaultInjector:
    """The sandbox hook injecting Faults; off while `faults` is None. Counts what it did.

    Called as a hook before each method; ``after(method)`` then decides whether a call that
    took effect fails on the way back, and ``abandoned(method)`` notes a late answer the client
    had given up on.
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults: Faults | None = None
        self.rng = random.Random()
        self.after_rng = random.Random()
        self.reset_stats()
        self.configure(faults)

    @property
    def enabled(self) -> bool:
        """Whether faults are injected."""
        return self.faults is not None

    def configure(self, faults: Faults | None) -> None:
        """Switch faults on (reseeding the random sources) or off (None)."""
        self.faults = faults
        seed = faults.seed if faults else None
        self.rng = random.Random(seed)
        # A separate stream, so after-faults never shift the before-faults of a seed.
        self.after_rng = random.Random(None if seed is None else f"after:{seed}")

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.eligible = 0
        self.errors: Counter[int] = Counter()
        self.dropped = 0
        self.delayed = 0
        self.latency_total = 0.0
        self.after_eligible = 0
        self.after_errors: Counter[int] = Counter()
        self.after_dropped = 0
        self.late = 0
        self.late_total = 0.0
        self.late_abandoned = 0
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

    def after(self, method: str) -> AfterFault | None:
        """For a call that took effect: what goes wrong on the way back (None: nothing)."""
        faults = self.faults
        if faults is None or not faults.acts_after or not faults.applies_to(method):
            return None
        # The same five numbers every call, as above.
        low, high = faults.after_latency_range
        delay = self.after_rng.uniform(low, high)
        late, drop, error, pick = (self.after_rng.random() for _ in range(4))
        self.after_eligible += 1
        self._count(method, "after_eligible")
        if drop < faults.after_drop_rate:
            self.after_dropped += 1
            self._count(method, "after_dropped")
            self._count(method, "delivered_then_failed")
            return AfterFault("drop")
        if error < faults.after_error_rate:
            code = faults.error_codes[int(pick * len(faults.error_codes))]
            self.after_errors[code] += 1
            self._count(method, "after_errors")
            self._count(method, "delivered_then_failed")
            return AfterFault("error", code=code)
        if delay > 0 and late < faults.after_latency_rate:
            self.late += 1
            self.late_total += delay
            self._count(method, "late")
            return AfterFault("late", delay=delay)
        return None

    def abandoned(self, method: str) -> None:
        """A late answer found the client gone: it was delivered, and then it failed."""
        self.late_abandoned += 1
        self._count(method, "late_abandoned")
        self._count(method, "delivered_then_failed")

    def stats(self) -> dict[str, Any]:
        """Counters, JSON-ready."""
        keys = ("eligible", "errors", "dropped", *_AFTER_COUNTERS, "delivered_then_failed")
        after_errors = sum(self.after_errors.values())
        return {
            "eligible": self.eligible,
            "errors": sum(self.errors.values()),
            "errors_by_code": {str(code): n for code, n in sorted(self.errors.items())},
            "dropped": self.dropped,
            "delayed": self.delayed,
            "latency_total": round(self.latency_total, 6),
            "after": {
                "eligible": self.after_eligible,
                "errors": after_errors,
                "errors_by_code": {str(c): n for c, n in sorted(self.after_errors.items())},
                "dropped": self.after_dropped,
                "late": self.late,
                "late_total": round(self.late_total, 6),
                "late_abandoned": self.late_abandoned,
            },
            "delivered_then_failed": after_errors + self.after_dropped + self.late_abandoned,
            "by_method": {
                method: {k: counts[k] for k in keys}
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
