"""How figures read, shared by every renderer."""

from __future__ import annotations

from bot.digest.content import Digest


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


def mean(kind: str, value: float | None) -> str:
    """A scale's mean ('3.4') or a yes/no's share of yes ('62% yes')."""
    if value is None:
        return "–"
    return f"{value:.0f}% yes" if kind == "yesno" else f"{value:.1f}"


def period(d: Digest) -> str:
    """'Mon 23 Nov – Sun 29 Nov 2026'."""
    return f"{d.first_day:%a %-d %b} – {d.last_day:%a %-d %b %Y}"
