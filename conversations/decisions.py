"""Decisions put to participants: what one is, how a coordinator writes one, and its result.

Pure: no Telegram, no SQL. A decision is a question with 2 to 6 options, a voting method, who
is asked and when it closes. It comes from the config (``[[decisions]]``, :class:`DecisionSpec`)
or from a coordinator's ``/decide`` message (:func:`parse_proposal`). At close, :func:`result`
counts the votes under the digest's small-number rules: a count from fewer than
``min_group_size`` people reads "fewer than 3", the next smallest is hidden too when only one
would be (so nothing can be worked out by subtraction), and when fewer than that many voted at
all, no counts are shown.

*Plurality*: one option per person (a new choice replaces the old); the most votes wins.
*Approval*: each person picks every option they would accept; the most approved wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIN_OPTIONS, MAX_OPTIONS = 2, 6
MAX_QUESTION = 300
MAX_OPTION = 40  # characters on a button: a phone shows about this many
DEFAULT_CLOSE = timedelta(days=3)
SHORTEST, LONGEST = timedelta(minutes=10), timedelta(days=60)
EVERYONE = "everyone"


class Method(StrEnum):
    """How votes are counted."""

    PLURALITY = "plurality"  # one choice each
    APPROVAL = "approval"  # every option they would accept


_UNITS = {
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_DURATION = re.compile(r"^\s*(?:in\s+)?(\d{1,4})\s*([a-z]+)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """``"3d"``, ``"3 days"``, ``"48h"``, ``"2 weeks"``, ``"in 90 minutes"``: between 10 minutes
    and 60 days. Raises ValueError naming the problem."""
    found = _DURATION.match(text)
    unit = _UNITS.get(found.group(2).lower()) if found else None
    if found is None or unit is None:
        raise ValueError(f"{text.strip()!r} is not a time like 3d, 48h or 2 weeks")
    length = timedelta(seconds=int(found.group(1)) * unit)
    if not SHORTEST <= length <= LONGEST:
        raise ValueError("a decision stays open between 10 minutes and 60 days")
    return length


def check_audience(who: str) -> str:
    """``everyone``, ``cohort:<name>`` or ``checkin:<id>``, tidied; ValueError otherwise."""
    who = " ".join(who.split())
    if who.lower() == EVERYONE:
        return EVERYONE
    kind, sep, name = who.partition(":")
    if not sep:
        kind, _, name = who.partition(" ")
    kind, name = kind.strip().lower(), name.strip()
    if kind in ("cohort", "checkin") and name:
        return f"{kind}:{name}"
    raise ValueError(f"{who!r}: who is asked is everyone, cohort:NAME or checkin:ID")


def _check_options(options: list[str]) -> list[str]:
    tidy = [" ".join(o.split()) for o in options]
    if not MIN_OPTIONS <= len(tidy) <= MAX_OPTIONS:
        raise ValueError(f"a decision has {MIN_OPTIONS} to {MAX_OPTIONS} options, not {len(tidy)}")
    for option in tidy:
        if not option:
            raise ValueError("an option is empty")
        if len(option) > MAX_OPTION:
            raise ValueError(f"{option[:20]!r}… is over {MAX_OPTION} characters: a phone cuts it")
    if len({o.casefold() for o in tidy}) != len(tidy):
        raise ValueError("two options are the same")
    return tidy


class DecisionSpec(BaseModel):
    """A ``[[decisions]]`` table: a decision written in the config, put to people by
    ``/decide ID``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    options: list[str]
    method: Method = Method.PLURALITY
    who: str = EVERYONE
    closes_after: str = "3d"

    translatable: ClassVar[tuple[str, ...]] = ("question", "options")
    """Its keys a participant reads, which the config may give per language (options are
    counted by their place, so a vote is the same in every language)."""

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        return _check_options(value)

    @field_validator("who")
    @classmethod
    def _who(cls, value: str) -> str:
        return check_audience(value)

    @field_validator("closes_after")
    @classmethod
    def _closes(cls, value: str) -> str:
        parse_duration(value)
        return value

    def proposal(self) -> Proposal:
        """This decision, ready to put to people."""
        return Proposal(
            self.question,
            list(self.options),
            self.method,
            self.who,
            parse_duration(self.closes_after),
            self.id,
        )


@dataclass(frozen=True)
class Proposal:
    """A decision about to be put to people."""

    question: str
    options: list[str]
    method: Method = Method.PLURALITY
    who: str = EVERYONE
    open_for: timedelta = DEFAULT_CLOSE
    key: str | None = None  # the config's id, if it came from there


class ProposalError(ValueError):
    """What is wrong with a /decide message, one problem per line."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


OPTION_LINE = re.compile(r"^\s*(?:[-*•–]|\d{1,2}[.)])\s*(.*)$")  # "- Monday", "2) Monday"
_SETTING = re.compile(
    r"^\s*(closes?|open for|for|vote|voting|method|who|ask)\b\s*(?:in\b)?\s*[:=]?\s*(.*)$",
    re.IGNORECASE,
)


def parse_proposal(text: str) -> Proposal:
    """Read a coordinator's ``/decide`` message (the text after the command)::

        Which day should the drop-in move to?
        - Monday
        - Wednesday
        - Friday
        closes: 3 days
        vote: approval
        who: cohort:Riverside

    The first line is the question; lines starting with ``-``, ``*``, ``•`` or ``1.`` are the
    options; ``closes``, ``vote`` (plurality or approval) and ``who`` are optional (3 days,
    plurality, everyone). Raises :class:`ProposalError` listing every problem found.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    problems: list[str] = []
    if not lines:
        raise ProposalError(["the question is missing"])
    question = " ".join(lines[0].split())
    options: list[str] = []
    method, who, open_for = Method.PLURALITY, EVERYONE, DEFAULT_CLOSE
    for number, line in enumerate(lines[1:], start=2):
        option = OPTION_LINE.match(line)
        setting = _SETTING.match(line)
        if option:
            options.append(option.group(1))
        elif setting:
            name, value = setting.group(1).lower(), setting.group(2).strip()
            try:
                if name in ("vote", "voting", "method"):
                    method = Method(value.lower())
                elif name in ("who", "ask"):
                    who = check_audience(value)
                else:
                    open_for = parse_duration(value)
            except ValueError as exc:
                if name in ("vote", "voting", "method"):
                    problems.append(f"line {number}: the vote is plurality or approval")
                else:
                    problems.append(f"line {number}: {exc}")
        else:
            start = line.strip()[:30]
            problems.append(f"line {number}: {start!r} is not an option (start it with -)")
    if len(question) > MAX_QUESTION:
        problems.append(f"the question is over {MAX_QUESTION} characters")
    if OPTION_LINE.match(lines[0]):
        problems.append("the first line is the question")
    try:
        options = _check_options(options)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ProposalError(problems)
    return Proposal(question, options, method, who, open_for)


@dataclass(frozen=True)
class Result:
    """A closed decision's figures, as they may be shown."""

    asked: int
    voted: int
    shown: list[int | None]  # votes per option; None: from fewer than k people (hidden)
    winners: list[int]  # the options with the most votes, when that may be shown
    k: int

    @property
    def too_few(self) -> bool:
        """Fewer than k people voted: no counts at all."""
        return self.voted < self.k


def count(votes: Iterable[tuple[str, int]], options: int) -> tuple[list[int], int]:
    """Votes per option and how many people voted, from (person, option) pairs."""
    counts = [0] * options
    people: set[str] = set()
    for person, option in votes:
        if 0 <= option < options:
            counts[option] += 1
            people.add(person)
    return counts, len(people)


def result(counts: list[int], voted: int, asked: int, k: int) -> Result:
    """The result under the small-number rules (see the module's docstring)."""
    if voted < k:
        return Result(asked, voted, [None] * len(counts), [], k)
    shown: list[int | None] = [c if c == 0 or c >= k else None for c in counts]
    hidden = [i for i, c in enumerate(shown) if c is None]
    if len(hidden) == 1:
        others = [i for i, c in enumerate(shown) if c]
        if others:
            shown[min(others, key=lambda i: counts[i])] = None
    top = max(counts)
    # Which answer came first is said even when its count is hidden by the subtraction rule
    # (it tells nothing about anyone), but not when the most votes rest on too few people.
    winners = [i for i, c in enumerate(counts) if c == top] if top >= k else []
    return Result(asked, voted, shown, winners, k)
