"""When check-ins fall due: schedules and quiet hours, as pure functions of time.

Every calculation happens in the participant's own time zone, so "Monday 10:00" stays 10:00 on
their clock across daylight-saving changes. Each occurrence has a stable key; the database keeps
one row per (participant, check-in, key), which is what makes a nudge go out at most once.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Fortnightly parity counts weeks from this Monday, so it never depends on when the bot started.
_EPOCH_MONDAY = date(2024, 1, 1)

FREQUENCIES: tuple[str, ...] = ("weekly", "fortnightly", "stage_only")


@functools.lru_cache(maxsize=256)
def parse_clock(value: str) -> time:
    """'09:30' -> time(9, 30); ValueError with a readable message otherwise."""
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, OverflowError):  # OverflowError: an hour too large for a C int
        raise ValueError(f"'{value}' is not a time of day like '09:30'") from None


class _Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Weekly(_Schedule):
    """On given weekdays at a local time, every N weeks."""

    kind: Literal["weekly"]
    days: list[str] = Field(default_factory=lambda: ["mon"], min_length=1)
    time: str = "10:00"
    every_weeks: int = Field(default=1, ge=1, le=8)

    @field_validator("days")
    @classmethod
    def _weekdays(cls, days: list[str]) -> list[str]:
        for day in days:
            if day not in WEEKDAYS:
                raise ValueError(f"'{day}' is not a day; use {', '.join(WEEKDAYS)}")
        return days

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class AfterJoining(_Schedule):
    """Once, a number of days after the person agreed to take part."""

    kind: Literal["after_joining"]
    days: int = Field(ge=0, le=3650)
    time: str | None = None

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock(value)
        return value


class StageEntry(_Schedule):
    """Once, when the project enters one of the check-in's stages."""

    kind: Literal["stage_entry"]
    delay_hours: int = Field(default=0, ge=0, le=24 * 60)


class RandomDaily(_Schedule):
    """Once a day at a random moment inside a window (experience sampling)."""

    kind: Literal["random_daily"]
    window: tuple[str, str] = ("10:00", "18:00")
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)

    @model_validator(mode="after")
    def _window(self) -> RandomDaily:
        start, end = (parse_clock(v) for v in self.window)
        if start >= end:
            raise ValueError("the window must start before it ends, within one day")
        for day in self.days:
            if day not in WEEKDAYS:
                raise ValueError(f"'{day}' is not a day; use {', '.join(WEEKDAYS)}")
        return self


Schedule = Annotated[Weekly | AfterJoining | StageEntry | RandomDaily, Field(discriminator="kind")]


@dataclass(frozen=True)
class Occurrence:
    """One time a check-in falls due for one person."""

    key: str
    due: datetime  # UTC


@dataclass(frozen=True)
class Person:
    """What scheduling needs to know about a participant."""

    id: str
    joined: datetime  # UTC
    zone: ZoneInfo
    frequency: str = "weekly"


@dataclass(frozen=True)
class StageNow:
    """The project's current stage and when it began (UTC)."""

    name: str
    entered: datetime


def latest(
    schedule: Schedule, person: Person, stage: StageNow, checkin_id: str, now: datetime
) -> Occurrence | None:
    """The most recent occurrence due at or before ``now`` (and not before the person joined).

    Only the latest counts: after downtime, older occurrences are superseded, not piled up.
    """
    return Planner(stage, now).latest(schedule, person, checkin_id)


class Planner:
    """Works out occurrences for many people at one moment, sharing what they have in common.

    Weekly and stage-entry occurrences depend only on the time zone and preferred frequency,
    so they are computed once per (schedule, zone, frequency), not once per person.
    """

    def __init__(self, stage: StageNow, now: datetime):
        self.stage = stage
        self.now = now
        self._shared: dict[tuple[int, str, str], Occurrence | None] = {}
        self._joined: dict[tuple[int, str, date], datetime] = {}

    def latest(self, schedule: Schedule, person: Person, checkin_id: str) -> Occurrence | None:
        """See :func:`latest`."""
        if person.frequency == "stage_only" and not isinstance(schedule, StageEntry):
            return None
        if isinstance(schedule, StageEntry):
            found = self._common(schedule, person)
            # Someone who joins after the stage began still gets its stage-entry check-in.
            return None if found is None else Occurrence(found.key, max(found.due, person.joined))
        if isinstance(schedule, Weekly):
            found = self._common(schedule, person)
        elif isinstance(schedule, AfterJoining):
            # Cheap test first (time zones shift a day by at most one day) for most people.
            if person.joined + timedelta(days=schedule.days - 1) > self.now:
                return None
            joined = person.joined.astimezone(person.zone)
            day = joined.date() + timedelta(days=schedule.days)
            if schedule.time:  # the same moment for everyone who joined that day
                shared = (id(schedule), person.zone.key, day)
                if shared not in self._joined:
                    self._joined[shared] = _at(day, parse_clock(schedule.time), person.zone)
                due = self._joined[shared]
            else:
                due = _at(day, joined.time(), person.zone)
            found = Occurrence(f"joined+{schedule.days}d", due) if due <= self.now else None
        else:
            found = _latest_random(schedule, person, checkin_id, self.now.astimezone(person.zone))
        if found is None or found.due < person.joined:
            return None
        return found

    def _common(self, schedule: Weekly | StageEntry, person: Person) -> Occurrence | None:
        key = (id(schedule), person.zone.key, person.frequency)
        if key not in self._shared:
            if isinstance(schedule, Weekly):
                local_now = self.now.astimezone(person.zone)
                self._shared[key] = _latest_weekly(
                    schedule, person.frequency, person.zone, local_now
                )
            else:
                due = self.stage.entered + timedelta(hours=schedule.delay_hours)
                stamp = self.stage.entered.strftime("%Y%m%dT%H%M%S")
                occurrence = Occurrence(f"stage:{self.stage.name}:{stamp}", due)
                self._shared[key] = occurrence if due <= self.now else None
        return self._shared[key]


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC; a time skipped by a clock change moves forward."""
    local = datetime.combine(day, at, tzinfo=zone)
    utc = local.astimezone(UTC)
    # Round trip to detect a wall time that does not exist (spring forward gap).
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        utc = datetime.combine(day, at, tzinfo=zone).replace(fold=1).astimezone(UTC)
    return utc


def _week_number(day: date) -> int:
    return (day - _EPOCH_MONDAY).days // 7


def _latest_weekly(
    schedule: Weekly, frequency: str, zone: ZoneInfo, local_now: datetime
) -> Occurrence | None:
    every = schedule.every_weeks * (2 if frequency == "fortnightly" else 1)
    at = parse_clock(schedule.time)
    wanted = {WEEKDAYS.index(d) for d in schedule.days}
    for back in range(7 * every + 1):
        day = local_now.date() - timedelta(days=back)
        if day.weekday() not in wanted or _week_number(day) % every:
            continue
        due = _at(day, at, zone)
        if due <= local_now:
            return Occurrence(f"week:{day.isoformat()}", due)
    return None


def random_moment(
    schedule: RandomDaily, person_id: str, checkin_id: str, day: date, zone: ZoneInfo
) -> datetime:
    """The same random moment for the same person and day, every time it is computed."""
    start, end = (parse_clock(v) for v in schedule.window)
    span = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    seed = hashlib.sha256(f"{person_id}:{checkin_id}:{day.isoformat()}".encode()).digest()
    minute = int.from_bytes(seed[:4], "big") % span
    base = datetime.combine(day, start)
    return _at(day, (base + timedelta(minutes=minute)).time(), zone)


def _latest_random(
    schedule: RandomDaily, person: Person, checkin_id: str, local_now: datetime
) -> Occurrence | None:
    wanted = {WEEKDAYS.index(d) for d in schedule.days}
    for back in range(8):
        day = local_now.date() - timedelta(days=back)
        if day.weekday() not in wanted:
            continue
        due = random_moment(schedule, person.id, checkin_id, day, person.zone)
        if due <= local_now:
            return Occurrence(f"day:{day.isoformat()}", due)
    return None


@dataclass(frozen=True)
class QuietHours:
    """A nightly period with no nudges, e.g. 21:00 to 09:00 local time."""

    start: time
    end: time

    @classmethod
    def parse(cls, pair: tuple[str, str] | list[str] | None) -> QuietHours | None:
        """From config or stored text; None or equal ends mean no quiet hours."""
        if not pair:
            return None
        start, end = (parse_clock(v) for v in pair)
        return None if start == end else cls(start, end)

    def contains(self, moment: time) -> bool:
        """True when a local time of day falls in the quiet period."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def defer(self, when: datetime, zone: ZoneInfo) -> datetime:
        """``when`` (UTC) or, if it falls in quiet hours, the end of that quiet period."""
        local = when.astimezone(zone)
        if not self.contains(local.time().replace(tzinfo=None)):
            return when
        day = local.date()
        if self.start > self.end and local.time() >= self.start:
            day += timedelta(days=1)  # the quiet period ends tomorrow morning
        return _at(day, self.end, zone)
