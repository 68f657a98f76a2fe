"""ISO weeks in the project's time zone: their bounds (clock changes included) and due times."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W48' -> (2026, 48); ValueError with a readable message otherwise."""
    match = _WEEK.match(text.strip())
    if match:
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            pass
        else:
            return year, week
    raise ValueError(f"'{text}' is not an ISO week like 2026-W48")


def week_name(day: date) -> str:
    """The ISO week a day is in, as '2026-W48'."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_of(moment: datetime, zone: str) -> str:
    """The ISO week a moment falls in, in the project's time zone."""
    return week_name(moment.astimezone(ZoneInfo(zone)).date())


def monday(week: str) -> date:
    """The Monday that starts an ISO week."""
    year, number = parse_week(week)
    return date.fromisocalendar(year, number, 1)


def bounds(week: str, zone: str) -> tuple[datetime, datetime]:
    """Local midnight starting Monday to local midnight starting the next Monday (aware).

    Across a clock change the week is 167 or 169 hours long, as people live it.
    """
    tz = ZoneInfo(zone)
    first = monday(week)
    return (
        datetime.combine(first, time(), tz),
        datetime.combine(first + timedelta(days=7), time(), tz),
    )


def previous(week: str) -> str:
    """The week before."""
    return week_name(monday(week) - timedelta(days=7))


def due_at(week: str, zone: str, weekday: str, at: time) -> datetime:
    """When a week's digest is due: the first ``weekday`` ``at`` after the week ends."""
    first_after = monday(week) + timedelta(days=7 + WEEKDAYS.index(weekday))
    return datetime.combine(first_after, at, ZoneInfo(zone))


def latest_due(now: datetime, zone: str, weekday: str, at: time) -> tuple[str, datetime]:
    """The most recent week whose digest is due at or before ``now``, and when it was due."""
    week = previous(week_of(now, zone))
    for _ in range(3):
        due = due_at(week, zone, weekday, at)
        if due <= now:
            return week, due
        week = previous(week)
    raise AssertionError("unreachable: a digest is due within three weeks")  # pragma: no cover
