"""What the sandbox delivered: per-chat message counts and a timeline of accepted sends.

For benchmarks: "each participant got exactly one nudge" is ``messages_by_chat``; the achieved
throughput is ``sends_per_second`` (over the whole run) and ``peak_per_second`` (the most sends
in any one-second window). Timeline times are seconds on the sandbox's monotonic clock since the
stats were (re)started.

For chaos tests: a send counts when it takes effect, even if a fault after delivery then failed
its answer; ``unacknowledged_by_chat`` counts those (sent, but the bot was told it failed or
never heard back). ``repeats_by_chat`` lists, per chat, each text (or caption) the bot sent more
than once with how often, so duplicates from blind retries show up at a glance.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .limits import EDITING_METHODS, SENDING_METHODS

MAX_TIMELINE = 100_000


class DeliveryStats:
    """Counts the bot sends and edits that took effect, as the server runs them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """Start counting afresh."""
        self.started = self.clock()
        self.messages_by_chat: Counter[int] = Counter()
        self.edits_by_chat: Counter[int] = Counter()
        self.unacknowledged_by_chat: Counter[int] = Counter()
        self.texts_by_chat: dict[int, Counter[str]] = {}
        self.timeline: deque[dict[str, Any]] = deque(maxlen=MAX_TIMELINE)

    def record(self, method: str, result: Any) -> None:
        """Note a Bot API call that took effect (anything but sends and edits is ignored)."""
        for chat_id, message in _messages(method, result):
            if method in EDITING_METHODS:
                self.edits_by_chat[chat_id] += 1
                continue
            self.messages_by_chat[chat_id] += 1
            text = message.get("text", message.get("caption"))
            if isinstance(text, str):
                self.texts_by_chat.setdefault(chat_id, Counter())[text] += 1
            self.timeline.append(
                {
                    "t": round(self.clock() - self.started, 6),
                    "chat_id": chat_id,
                    "method": method,
                    "message_id": message.get("message_id"),
                }
            )

    def unacknowledged(self, method: str, result: Any) -> None:
        """A recorded send or edit whose answer then failed (a fault after delivery)."""
        for chat_id, _ in _messages(method, result):
            self.unacknowledged_by_chat[chat_id] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (chat ids become string keys)."""
        times = [entry["t"] for entry in self.timeline]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        return {
            "messages": sum(self.messages_by_chat.values()),
            "edits": sum(self.edits_by_chat.values()),
            "messages_by_chat": {str(k): v for k, v in sorted(self.messages_by_chat.items())},
            "edits_by_chat": {str(k): v for k, v in sorted(self.edits_by_chat.items())},
            "unacknowledged_by_chat": {
                str(k): v for k, v in sorted(self.unacknowledged_by_chat.items())
            },
            "repeats_by_chat": {
                str(chat_id): repeats
                for chat_id, texts in sorted(self.texts_by_chat.items())
                if (repeats := {text: n for text, n in texts.items() if n > 1})
            },
            "first_send": times[0] if times else None,
            "last_send": times[-1] if times else None,
            "sends_per_second": round((len(times) - 1) / span, 3) if span > 0 else None,
            "peak_per_second": _peak(times),
            "timeline": list(self.timeline),
        }


def _messages(method: str, result: Any) -> list[tuple[int, dict[str, Any]]]:
    """(chat id, Message) for each message a send or edit produced."""
    if method not in SENDING_METHODS and method not in EDITING_METHODS:
        return []
    messages = result if isinstance(result, list) else [result]
    # Skips e.g. copyMessage's MessageId, or an inline edit's True.
    return [(int(m["chat"]["id"]), m) for m in messages if isinstance(m, dict) and "chat" in m]


def _peak(times: list[float], window: float = 1.0) -> int:
    """The most entries in any half-open window of `window` seconds."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
