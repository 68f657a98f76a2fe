"""Telegram's flood limits, switchable: 429 "Too Many Requests: retry after N".

Telegram documents the limits only roughly ("about 30 messages per second" per bot, "no more than
one message per second" in a chat with short bursts allowed, "no more than 20 messages per minute"
in a group). The sandbox models each as a token bucket, the same shape as the leaky buckets of
PTB's AIORateLimiter (aiolimiter), so a bot that paces itself with AIORateLimiter is not refused:

* overall, per bot: capacity ``overall_per_second``, refilled at ``overall_per_second``/s;
* per private chat: capacity ``private_burst``, refilled at ``private_per_second``/s;
* per group (negative or ``@username`` chat_id): capacity ``group_per_minute``, refilled at
  ``group_per_minute``/60 s.

Only methods that post or change a message in a chat count (``LIMITED_METHODS``). A refused call
takes no slot. Like Telegram's flood wait, a 429 is a promise: retrying before ``retry_after``
seconds is refused again (``enforce_retry_after``), so clients that ignore it are caught.

The sandbox serves one bot (its identity is fixed), so "per bot" means per sandbox.

A 429 storm (``RateLimiter.start_storm``, the control API's ``POST /sandbox/limits/storm``) forces
a flood wait whether or not the limits are on: for the next ``seconds`` and/or ``calls`` (the
storm ends when either runs out; neither: until ``stop_storm``), every call to a limited method
(or to the given ``methods``) gets 429 with the given ``retry_after``, taking no slot. With
``enforce_retry_after`` (by default as the limits say, or on when they are off) its flood wait
outlives the storm like any 429's: the first storm 429 blocks for ``retry_after`` seconds and
each 429 after that wait ran out blocks again, so a client that honours every retry_after is
never refused once the storm is over, and one that comes back sooner is refused with the seconds
left. Storm 429s count as ``limited``, with scope ``"storm"``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ApiError
from .params import Params

# Methods that post a message into a chat or change one there.
SENDING_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendAudio",
        "sendDocument",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendPaidMedia",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendChecklist",
        "sendDice",
        "sendSticker",
        "sendInvoice",
        "sendGame",
        "forwardMessage",
        "forwardMessages",
        "copyMessage",
        "copyMessages",
    }
)
EDITING_METHODS = frozenset(
    {
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageLiveLocation",
        "stopMessageLiveLocation",
        "editMessageChecklist",
        "editMessageReplyMarkup",
        "stopPoll",
    }
)
LIMITED_METHODS = SENDING_METHODS | EDITING_METHODS

Clock = Callable[[], float]


@dataclass
class RateLimits:
    """The limits to enforce (Telegram's published figures by default)."""

    overall_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0
    enforce_retry_after: bool = True

    def __post_init__(self) -> None:
        if min(self.overall_per_second, self.private_per_second, self.group_per_minute) <= 0:
            raise ValueError("rates must be positive")
        if self.private_burst < 1:
            raise ValueError("private_burst must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: RateLimits | None = None) -> RateLimits:
        """Fields from JSON over `base` (default: the defaults); ValueError on unknown keys."""
        known = {f.name for f in fields(cls)}
        if unknown := set(data) - known:
            raise ValueError(f"unknown rate limit settings: {sorted(unknown)}")
        values = (base or cls()).to_dict()
        values.update(data)
        try:
            return cls(
                overall_per_second=float(values["overall_per_second"]),
                private_per_second=float(values["private_per_second"]),
                private_burst=int(values["private_burst"]),
                group_per_minute=float(values["group_per_minute"]),
                enforce_retry_after=bool(values["enforce_retry_after"]),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid rate limit settings: {exc}") from None


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; one token per call."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = now
        self.blocked_until = 0.0

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a call may pass (0 if it may now)."""
        self.refill(now)
        shortfall = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
        return max(shortfall, self.blocked_until - now)

    def full(self, now: float) -> bool:
        """Back to capacity and not blocked: safe to forget."""
        self.refill(now)
        return self.tokens >= self.capacity and now >= self.blocked_until


def too_many_requests(retry_after: int) -> ApiError:
    """Telegram's 429."""
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


@dataclass
class Storm:
    """A forced 429 storm (see the module docstring)."""

    retry_after: int
    until: float | None  # clock time the storm ends (None: no time limit)
    calls_left: int | None  # refusals left before it ends (None: no count limit)
    methods: frozenset[str] | None  # None: LIMITED_METHODS
    enforce_retry_after: bool
    blocked_until: float = 0.0
    limited: int = 0

    def covers(self, method: str) -> bool:
        """Whether the storm hits this method."""
        return method in (LIMITED_METHODS if self.methods is None else self.methods)

    def raging(self, now: float) -> bool:
        """Whether the storm itself is still on (its flood wait may outlast it)."""
        return (self.until is None or now < self.until) and (
            self.calls_left is None or self.calls_left > 0
        )

    def to_dict(self, now: float) -> dict[str, Any]:
        """JSON-ready, with times as seconds from now."""
        return {
            "active": self.raging(now),
            "retry_after": self.retry_after,
            "seconds_left": None if self.until is None else round(max(0.0, self.until - now), 3),
            "calls_left": self.calls_left,
            "methods": None if self.methods is None else sorted(self.methods),
            "enforce_retry_after": self.enforce_retry_after,
            "blocked_for": round(max(0.0, self.blocked_until - now), 3),
            "limited": self.limited,
        }


class RateLimiter:
    """The sandbox hook enforcing RateLimits and 429 storms; limits are off while `limits` is
    None, storms happen only when started. Counts what it did."""

    def __init__(self, limits: RateLimits | None = None, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.limits: RateLimits | None = None
        self._overall: TokenBucket | None = None
        self._chats: dict[str, TokenBucket] = {}
        self.storm: Storm | None = None
        self.reset_stats()
        self.configure(limits)

    @property
    def enabled(self) -> bool:
        """Whether limits are enforced."""
        return self.limits is not None

    def configure(self, limits: RateLimits | None) -> None:
        """Switch limits on (with fresh, full buckets) or off (None)."""
        self.limits = limits
        self._chats.clear()
        self._overall = (
            TokenBucket(limits.overall_per_second, limits.overall_per_second, self.clock())
            if limits
            else None
        )

    def start_storm(
        self,
        seconds: float | None = None,
        calls: int | None = None,
        retry_after: int = 5,
        methods: list[str] | None = None,
        enforce_retry_after: bool | None = None,
    ) -> Storm:
        """Refuse every limited call (or `methods`) with 429 for `seconds` and/or `calls`."""
        if retry_after < 1:
            raise ValueError("retry_after must be at least 1 second")
        if seconds is not None and seconds <= 0:
            raise ValueError("seconds must be positive")
        if calls is not None and calls < 1:
            raise ValueError("calls must be at least 1")
        if enforce_retry_after is None:
            enforce_retry_after = self.limits.enforce_retry_after if self.limits else True
        now = self.clock()
        self.storm = Storm(
            retry_after=retry_after,
            until=None if seconds is None else now + seconds,
            calls_left=calls,
            methods=None if methods is None else frozenset(methods),
            enforce_retry_after=enforce_retry_after,
        )
        return self.storm

    @property
    def storming(self) -> bool:
        """Whether a storm is on now."""
        return self.storm is not None and self.storm.raging(self.clock())

    def stop_storm(self) -> None:
        """End the storm now, flood wait included."""
        self.storm = None

    def _storm_check(self, method: str, now: float) -> int | None:
        """The retry_after of a storm 429 for this call, or None."""
        storm = self.storm
        if storm is None or not storm.covers(method):
            return None
        if storm.raging(now):
            if storm.calls_left is not None:
                storm.calls_left -= 1
            if storm.enforce_retry_after and storm.blocked_until <= now:
                storm.blocked_until = now + storm.retry_after
            storm.limited += 1
            return storm.retry_after
        if storm.enforce_retry_after and now < storm.blocked_until:
            return max(1, math.ceil(storm.blocked_until - now - 1e-9))
        return None

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.allowed = 0
        self.limited = 0
        self.allowed_by_method: Counter[str] = Counter()
        self.limited_by_method: Counter[str] = Counter()
        self.limited_by_scope: Counter[str] = Counter()

    def _chat_bucket(self, chat_id: str, now: float) -> tuple[str, TokenBucket]:
        assert self.limits is not None
        is_group = chat_id.startswith(("-", "@"))
        scope = "group" if is_group else "chat"
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > 10_000:  # forget idle chats so long benchmarks stay small
                self._chats = {k: b for k, b in self._chats.items() if not b.full(now)}
            if is_group:
                limits = self.limits
                bucket = TokenBucket(limits.group_per_minute, limits.group_per_minute / 60, now)
            else:
                bucket = TokenBucket(self.limits.private_burst, self.limits.private_per_second, now)
            self._chats[chat_id] = bucket
        return scope, bucket

    def check(self, method: str, chat_id: str | None) -> int | None:
        """Take a slot and return None, or return the retry_after of a 429 (no slot taken)."""
        now = self.clock()
        storm_wait = self._storm_check(method, now)
        if storm_wait is not None:
            self.limited += 1
            self.limited_by_method[method] += 1
            self.limited_by_scope["storm"] += 1
            return storm_wait
        if self.limits is None or self._overall is None or method not in LIMITED_METHODS:
            return None
        buckets = [("overall", self._overall)]
        if chat_id:
            buckets.append(self._chat_bucket(chat_id, now))
        waits = [(scope, bucket, bucket.wait(now)) for scope, bucket in buckets]
        refused = [(scope, bucket, wait) for scope, bucket, wait in waits if wait > 0]
        if not refused:
            for _, bucket in buckets:
                bucket.tokens -= 1
            self.allowed += 1
            self.allowed_by_method[method] += 1
            return None
        retry_after = max(1, math.ceil(max(wait for _, _, wait in refused) - 1e-9))
        if self.limits.enforce_retry_after:
            for _, bucket, _ in refused:
                if bucket.blocked_until <= now:  # asking again during a wait does not extend it
                    bucket.blocked_until = now + retry_after
        self.limited += 1
        self.limited_by_method[method] += 1
        for scope, _, _ in refused:
            self.limited_by_scope[scope] += 1
        return retry_after

    async def __call__(self, method: str, params: Params) -> None:
        """The sandbox hook: raise a 429 when a limit is exceeded or a storm rages."""
        if self.limits is None and self.storm is None:
            return
        chat_id = params.values.get("chat_id")
        retry_after = self.check(method, None if chat_id in (None, "") else str(chat_id))
        if retry_after is not None:
            raise too_many_requests(retry_after)

    def stats(self) -> dict[str, Any]:
        """Counters, JSON-ready."""
        return {
            "allowed": self.allowed,
            "limited": self.limited,
            "by_method": {
                method: {
                    "allowed": self.allowed_by_method[method],
                    "limited": self.limited_by_method[method],
                }
                for method in sorted(set(self.allowed_by_method) | set(self.limited_by_method))
            },
            "limited_by_scope": dict(self.limited_by_scope),
        }

    def to_dict(self) -> dict[str, Any]:
        """The control API view: whether on, the settings, the counters."""
        return {
            "enabled": self.enabled,
            "config": self.limits.to_dict() if self.limits else None,
            "stats": self.stats(),
            "storm": self.storm.to_dict(self.clock()) if self.storm else None,
        }
