"""The tokenism meter: is power shared, or are people only consulted? Pure: raw rows in
(storage/power.py), one row of measures per stage and per week out.

Each measure, as the digest's legend says (:data:`LEGEND`):

- **decisions**: decisions put to participants to make;
- **turnout**: of the people asked in decisions that closed, the share who voted;
- **followed or explained**: decisions that closed where the team said what it did with the
  result (a "you said, we did" update linked to it), of those that closed;
- **suggestions adopted**: suggestions participants made that the team took up, of those made;
- **got it right**: of the answers to "did we get it right?" under updates, the share "yes";
- **heard back**: of the contributors updates were written for, the share they reached;
- **lived-experience input** (stages only): whether people with lived experience answered,
  voted, suggested or said whether the team got it right in that stage.

Shares rest on people, so the digest's small-number rules hold: "got it right" is shown only
when at least ``min_group_size`` people are on both sides (yes and not yes), or none on one;
turnout and heard back (who took part, not what they said) when at least that many voted or
were reached, as the digest shows "reached 3 of 4 contributors"; otherwise "fewer than 3".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.digest import weeks
from storage.db import utc_text
from storage.power import RawPower

TREND_WEEKS = 8

LEGEND: tuple[tuple[str, str], ...] = (
    ("Decisions", "decisions put to participants to make"),
    ("Turnout", "of the people asked in decisions that closed, the share who voted"),
    (
        "Followed or explained",
        "decisions that closed where the team said what it did with the result, of those closed",
    ),
    ("Suggestions adopted", "suggestions participants made that the team took up, of those made"),
    ("Got it right", "of the answers to “did we get it right?” under updates, the share “yes”"),
    ("Heard back", "of the contributors updates were written for, the share they reached"),
    (
        "Lived-experience input",
        "whether people with lived experience answered, voted, suggested or said whether the"
        " team got it right in that stage",
    ),
)


@dataclass(frozen=True)
class PowerRow:
    """The measures for one stage or one week."""

    label: str
    decisions: int
    closed: int
    turnout: Share
    explained: int
    suggestions: int
    adopted: int
    got_it_right: Share
    heard_back: Share
    input: bool | None = None  # stages only

    @property
    def empty(self) -> bool:
        """Nothing to show: no decision, suggestion, answer to an update or update."""
        return (
            not self.decisions
            and not self.suggestions
            and self.got_it_right == Share(None)
            and self.heard_back == Share(None)
        )


@dataclass(frozen=True)
class PowerMeter:
    """Per stage since the start, and per week for the last few weeks (oldest first)."""

    stages: list[PowerRow]
    weeks: list[PowerRow]
    min_group_size: int

    @property
    def anything(self) -> bool:
        """Whether any power was shared at all yet (else the digest says so in a line)."""
        return any(not row.empty for row in self.stages)


@dataclass(frozen=True)
class Share:
    """A share in percent: ``value`` None with ``hidden`` (from fewer than k people) or
    without (nothing to measure yet)."""

    value: float | None
    hidden: bool = False

    def words(self, fewer: str) -> str:
        """'42%', 'fewer than 3' or '–'."""
        if self.hidden:
            return fewer
        return "–" if self.value is None else f"{self.value:.0f}%"


def share(part: int, whole: int, k: int, *, answers: bool = True) -> Share:
    """``part`` of ``whole`` in percent, hidden when it rests on fewer than ``k`` people: for
    ``answers`` (what people said) on either side, so nobody's answer can be worked out from
    it; for taking part (who voted, who was reached) on the side counted, as the digest shows
    "reached 3 of 4 contributors"."""
    if whole == 0:
        return Share(None)
    rest = whole - part
    if whole < k or 0 < part < k or (answers and 0 < rest < k):
        return Share(None, hidden=True)
    return Share(100.0 * part / whole)


def _row(raw: RawPower, label: str, keep: Callable[[str, str], bool], k: int) -> PowerRow:
    decisions = [d for d in raw.decisions if keep(d.stage, d.opened_at)]
    closed = [d for d in decisions if d.closed]
    suggestions = [s for s in raw.suggestions if keep(s.stage, s.created_at)]
    verdicts = [v for v in raw.verdicts if keep(v.stage, v.answered_at)]
    updates = [u for u in raw.updates if keep(u.stage, u.created_at)]
    return PowerRow(
        label,
        len(decisions),
        len(closed),
        share(sum(d.voted for d in closed), sum(d.asked for d in closed), k, answers=False),
        sum(1 for d in closed if d.explained),
        len(suggestions),
        sum(1 for s in suggestions if s.adopted),
        share(sum(1 for v in verdicts if v.verdict == "yes"), len(verdicts), k),
        share(
            sum(u.reached for u in updates), sum(u.contributors for u in updates), k, answers=False
        ),
    )


def build(
    raw: RawPower,
    stages: Iterable[str],
    contributed: Callable[[str], bool],
    week: str,
    zone: str,
    k: int,
) -> PowerMeter:
    """The meter up to the end of ``week``: each configured stage (``contributed(stage)``:
    lived-experience input there), then the last :data:`TREND_WEEKS` weeks."""
    stage_rows = []
    for stage in stages:
        row = _row(raw, stage, lambda s, _at, stage=stage: s == stage, k)
        # Input is any voice: an answer, a vote, a suggestion, or "did we get it right?".
        spoke = (
            contributed(stage)
            or any(d.voted for d in raw.decisions if d.stage == stage)
            or any(s.stage == stage for s in raw.suggestions)
            or any(v.stage == stage for v in raw.verdicts)
        )
        stage_rows.append(PowerRow(**{**row.__dict__, "input": spoke}))  # type: ignore[arg-type]
    names = [week]
    while len(names) < TREND_WEEKS:
        names.append(weeks.previous(names[-1]))
    week_rows = []
    for name in reversed(names):
        start, end = (utc_text(t) for t in weeks.bounds(name, zone))  # as stored
        week_rows.append(_row(raw, name, lambda _s, at, start=start, end=end: start <= at < end, k))
    return PowerMeter(stage_rows, week_rows, k)


def line(row: PowerRow, fewer: str) -> str:
    """One row in words, for the Markdown digest and /stats."""
    parts = [
        f"decisions {row.decisions} (turnout {row.turnout.words(fewer)};"
        f" followed or explained {row.explained} of {row.closed})",
        f"suggestions adopted {row.adopted} of {row.suggestions}",
        f"got it right {row.got_it_right.words(fewer)}",
        f"heard back {row.heard_back.words(fewer)}",
    ]
    if row.input is not None:
        parts.append(f"lived-experience input {'yes' if row.input else 'no'}")
    return "; ".join(parts)
