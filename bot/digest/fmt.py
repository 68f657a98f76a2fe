"""How figures read, shared by every renderer."""

from __future__ import annotations

from typing import NamedTuple

from bot.digest.content import Digest, QuestionFigures, VoiceWaiting
from conversations.questions import Aggregate


class Summary(NamedTuple):
    """How a summary figure reads."""

    word: str  # before the figure
    form: str  # the figure
    unit: str  # of its change against last week
    name: str  # in the CSV


# The aggregates with a summary figure besides their distribution (QuestionFigures.mean).
SUMMARIES = {
    Aggregate.MEAN: Summary("average", "{:.1f}", "", "mean"),
    Aggregate.SHARE_YES: Summary("said", "{:.0f}% yes", " pts", "percent_yes"),
}


def count(d: Digest, n: int | None) -> str:
    """A count, or 'fewer than 3'."""
    return d.fewer if n is None else f"{n:,}"


def pct(value: float | None, none: str = "–") -> str:
    """'42%' or a dash."""
    return none if value is None else f"{value:.0f}%"


def change(value: float | None, unit: str = " pts") -> str:
    """'+4 pts', '−2 pts', '±0 pts', or '' when there is nothing to compare."""
    if value is None:
        return ""
    if round(value, 1) == 0:
        return f"±0{unit}"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value):.1f}".rstrip("0").rstrip(".") + unit


def mean(q: QuestionFigures) -> str:
    """A question's summary figure in words: 'average 3.4', 'said 62% yes' ('' if none)."""
    summary = SUMMARIES.get(q.aggregate)
    if q.mean is None or summary is None:
        return ""
    return f"{summary.word} {summary.form.format(q.mean)}"


def mean_change(q: QuestionFigures) -> str:
    """The summary figure's change on last week: '+0.4', '−5 pts' ('' if nothing to compare)."""
    summary = SUMMARIES.get(q.aggregate)
    return change(q.change, summary.unit) if summary else ""


def mean_name(q: QuestionFigures) -> str:
    """What the CSV calls a question's summary figure ('mean', 'percent_yes')."""
    summary = SUMMARIES.get(q.aggregate)
    return summary.name if summary else q.aggregate.value


def period(d: Digest) -> str:
    """'Mon 23 Nov – Sun 29 Nov 2026'."""
    return f"{d.first_day:%a %-d %b} – {d.last_day:%a %-d %b %Y}"


def voice_waiting(v: VoiceWaiting) -> str:
    """'3 (the oldest came Mon 30 Nov 14:02)', or '0'."""
    if not v.count or v.oldest is None:
        return "0"
    return f"{v.count:,} (the oldest came {v.oldest:%a %-d %b %H:%M})"
