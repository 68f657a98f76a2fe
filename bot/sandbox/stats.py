"""What the sandbox delivered: per-chat message counts and a timeline of accepted sends.

For benchmarks: "each participant got exactly one nudge" is ``messages_by_chat``; the achieved
throughput is ``sends_per_second`` (over the whole run) and ``peak_per_second`` (the most sends
in any one-second window). Timeline times are seconds on the sandbox's monotonic clock since the
stats were (re)started.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .limits import EDITING_METHODS, SENDING_METHODS

MAX_TIMELINE = 100_000


class DeliveryStats:
    """Counts successful bot sends and edits as the server answers them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Start counting afresh."""
        self.started = self.clock()
        self.messages_by_chat: Counter[int] = Counter()
        self.edits_by_chat: Counter[int] = Counter()
        self.timeline: deque[dict[str, Any]] = deque(maxlen=MAX_TIMELINE)

    def record(self, method: str, result: Any) -> None:
        """Note a successful Bot API call (anything but message sends and edits is ignored)."""
        if method not in SENDING_METHODS and method not in EDITING_METHODS:
            return
        messages = result if isinstance(result, list) else [result]
        for message in messages:
            if not isinstance(message, dict) or "chat" not in message:
                continue  # e.g. copyMessage's MessageId, or an inline edit's True
            chat_id = int(message["chat"]["id"])
            if method in EDITING_METHODS:
                self.edits_by_chat[chat_id] += 1
                continue
            self.messages_by_chat[chat_id] += 1
            self.timeline.append(
                {
                    "t": round(self.clock() - self.started, 6),
                    "chat_id": chat_id,
                    "method": method,
                    "message_id": message.get("message_id"),
                }
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (chat ids become string keys)."""
        times = [entry["t"] for entry in self.timeline]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "messages": sum(self.messages_by_chat.values()),
            "edits": sum(self.edits_by_chat.values()),
            "messages_by_chat": {str(k): v for k, v in sorted(self.messages_by_chat.items())},
            "edits_by_chat": {str(k): v for k, v in sorted(self.edits_by_chat.items())},
            "first_send": times[0] if times else None,
            "last_send": times[-1] if times else None,
            "sends_per_second": round((len(times) - 1) / span, 3) if span > 0 else None,
            "peak_per_second": _peak(times),
            "timeline": list(self.timeline),
        }


def _peak(times: list[float], window: float = 1.0) -> int:
    """The most entries in any half-open window of `window` seconds."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
