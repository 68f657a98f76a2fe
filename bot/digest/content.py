"""What a digest says, as plain data: figures with small groups already hidden.

A hidden figure is stored as ``None``, so no renderer can show it by mistake. The rule: any
figure (or breakdown cell) based on fewer than ``min_group_size`` people (but more than none)
is hidden; a whole question is hidden if fewer people answered it. When exactly one cell of a
breakdown is hidden, the next smallest is hidden too, so it cannot be worked out from the
others. No id, chat or pseudonym is ever part of a digest, and quotes carry no name.

Every figure is as it stood at the end of the digest's week (see ``storage.figures.gather``).
``LEGEND`` says what the check-in figures count; every renderer shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.digest import power, weeks
from bot.digest.power import PowerMeter
from bot.digest.redact import redact
from bot.settings import Settings
from conversations.kinds import kind_of
from conversations.questions import YES, Aggregate, QuestionKind
from storage import figures, listens
from storage import power as power_rows
from storage.db import Database, parse_utc

MAX_QUOTES = 8
MAX_QUOTE_CHARS = 300

# What the check-in figures count, in the digest's own words (HTML and Markdown show these).
LEGEND: tuple[tuple[str, str], ...] = (
    (
        "Asked",
        "nudges and /ask messages due this week that reached the person by the end of the week"
        " (Telegram confirmed them, or they were answered).",
    ),
    (
        "Answered",
        "of those, the ones completed by the end of the week. Response: answered ÷ asked.",
    ),
    (
        "Without a nudge",
        "check-ins people started themselves with /checkin, when no nudge was waiting, and"
        " completed this week. They are not part of Asked or Answered.",
    ),
    ("Started", "check-ins with at least one answer this week, however they began."),
    (
        "Completed",
        "check-ins finished this week, however they began: the answered nudges, those without a"
        " nudge, and late answers to an earlier week's nudge. Completion: completed ÷ started.",
    ),
)


def visible(count: int, people: int, k: int) -> int | None:
    """``count`` if it rests on at least ``k`` people (or on none), else None (hidden)."""
    return count if people == 0 or people >= k else None


def percent(part: int | None, whole: int | None) -> float | None:
    """A share in percent, or None when either side is hidden or there is nothing."""
    if part is None or whole is None or whole == 0:
        return None
    return 100.0 * part / whole


@dataclass(frozen=True)
class Participation:
    """People counts (None: fewer than the minimum group)."""

    active: int | None
    new: int | None
    paused: int | None
    stopped: int | None
    unreachable: int | None


@dataclass(frozen=True)
class CheckinFigures:
    """One check-in in the week (see ``LEGEND``)."""

    id: str
    title: str
    asked: int | None
    answered: int | None
    response_rate: float | None
    started: int | None
    completed: int | None
    completion_rate: float | None
    unprompted: int | None = 0  # completed without a nudge (/checkin)


@dataclass(frozen=True)
class BucketFigures:
    """One answer option: how many answers chose it, its share, and last week's share."""

    label: str
    count: int | None
    share: float | None
    previous_share: float | None

    @property
    def change(self) -> float | None:
        """Change in percentage points against the previous week."""
        if self.share is None or self.previous_share is None:
            return None
        return self.share - self.previous_share


@dataclass(frozen=True)
class QuestionFigures:
    """The distribution of a question's answers this week (a kind the digest aggregates)."""

    checkin_id: str
    checkin_title: str
    question_id: str
    text: str
    kind: str
    people: int | None  # None: fewer than the minimum answered; then nothing else is shown
    buckets: list[BucketFigures]
    mean: float | None  # the kind's summary figure: the mean, or percent yes; else None
    previous_mean: float | None

    @property
    def aggregate(self) -> Aggregate:
        """How its kind is summed up (what ``mean`` is)."""
        return kind_of(self.kind).aggregate

    @property
    def hidden(self) -> bool:
        """Too few people answered to show anything."""
        return self.people is None

    @property
    def change(self) -> float | None:
        """The mean's change against the previous week."""
        if self.mean is None or self.previous_mean is None:
            return None
        return self.mean - self.previous_mean


@dataclass(frozen=True)
class StageFigures:
    """Who contributed to a stage: this week, and since the start up to the week's end."""

    stage: str
    this_week: int | None
    since_start: int | None
    reached: bool


@dataclass(frozen=True)
class Agreement:
    """ "Did we get it right?" for the updates written in one stage, as answered by the end of
    the week: how many said Yes, Partly and No (None: hidden, too few people)."""

    stage: str
    yes: int | None
    partly: int | None
    no: int | None


@dataclass(frozen=True)
class LoopClosure:
    """'You said, we did' updates written this week and the contributors they reached, and
    whether people said each stage's updates got it right."""

    updates: int
    contributors: int | None
    reached: int | None
    share: float | None
    agreement: list[Agreement] = field(default_factory=list)


@dataclass(frozen=True)
class Alerts:
    """Safeguarding alerts: counts only."""

    raised: int | None
    taken: int | None


@dataclass(frozen=True)
class VoiceWaiting:
    """Voice notes nobody had heard by the end of the week (``/listen``): how many, and when
    the oldest came. Work waiting for the team, not a count of people or of what they said,
    so it is not hidden under the small-number rule; never any content."""

    count: int = 0
    oldest: datetime | None = None  # in the project's time zone


@dataclass(frozen=True)
class Quote:
    """Redacted words from someone who said they may be quoted; no name, no code name."""

    checkin_title: str
    text: str


@dataclass(frozen=True)
class Digest:
    """Everything a digest shows."""

    project: str
    week: str
    first_day: date
    last_day: date
    timezone: str
    min_group_size: int
    participation: Participation
    checkins: list[CheckinFigures]
    questions: list[QuestionFigures]
    stages: list[StageFigures]
    every_stage: int | None
    reached_stages: list[str]
    loop: LoopClosure
    alerts: Alerts
    quotes: list[Quote] = field(default_factory=list)
    power: PowerMeter | None = None  # the tokenism meter (bot/digest/power.py)
    voice: VoiceWaiting = field(default_factory=VoiceWaiting)

    @property
    def fewer(self) -> str:
        """What a hidden figure reads as."""
        return f"fewer than {self.min_group_size}"


async def compute(db: Database, settings: Settings, week: str) -> Digest:
    """The digest for an ISO week ('2026-W48') in the project's time zone."""
    zone = settings.project.timezone
    start, end = weeks.bounds(week, zone)
    previous_start, _ = weeks.bounds(weeks.previous(week), zone)
    reached = await figures.reached_stages(
        db, settings.project.stages, settings.project.stage, until=end
    )
    raw = await figures.gather(db, start, end, previous_start, reached)
    digest = build(raw, settings, week, reached)
    meter = power.build(
        await power_rows.gather(db, end),
        reached,  # the stages so far: a stage still to come has had no chance of input
        lambda stage: raw.stage_all.get(stage, 0) > 0,
        week,
        zone,
        settings.digest.min_group_size,
    )
    waiting = await listens.waiting(db, until=end)
    oldest = parse_utc(waiting.oldest).astimezone(ZoneInfo(zone)) if waiting.oldest else None
    return replace(digest, power=meter, voice=VoiceWaiting(waiting.count, oldest))


def build(raw: figures.RawWeek, settings: Settings, week: str, reached: list[str]) -> Digest:
    """Pure: raw counts in, figures with small groups hidden out."""
    k = settings.digest.min_group_size
    first = weeks.monday(week)

    def people(n: int) -> int | None:
        return visible(n, n, k)

    participation = Participation(
        active=people(raw.people.get("active", 0)),
        new=people(raw.new_people),
        paused=people(raw.people.get("paused", 0)),
        stopped=people(raw.people.get("stopped", 0)),
        unreachable=people(raw.people.get("unreachable", 0)),
    )

    checkins = []
    for checkin in settings.checkins:
        c = raw.checkins.get(checkin.id)
        if c is None:
            continue
        asked = visible(c.asked, c.asked_people, k)
        answered = visible(c.answered, c.answered_people, k)
        started = visible(c.started, c.started_people, k)
        completed = visible(c.completed, c.completed_people, k)
        unprompted = visible(c.unprompted, c.unprompted_people, k)
        checkins.append(
            CheckinFigures(
                checkin.id,
                checkin.title,
                asked,
                answered,
                percent(answered, asked),
                started,
                completed,
                percent(completed, started) if completed is not None else None,
                unprompted,
            )
        )

    questions = []
    for checkin in settings.checkins:
        for question in checkin.questions:
            if question.aggregate is Aggregate.NONE:
                continue
            now = raw.questions.get((checkin.id, question.id))
            if now is None:
                continue
            before = raw.previous.get((checkin.id, question.id))
            questions.append(_question(checkin.id, checkin.title, question, now, before, k))

    stages = [
        StageFigures(
            stage,
            people(raw.stage_week.get(stage, 0)),
            people(raw.stage_all.get(stage, 0)),
            stage in reached,
        )
        for stage in settings.project.stages
    ]

    contributors = people(raw.update_contributors)
    reached_people = visible(raw.update_reached, raw.update_reached, k)
    agreement = []
    for stage in [
        *settings.project.stages,
        *sorted(set(raw.agreement) - set(settings.project.stages)),
    ]:
        verdicts = raw.agreement.get(stage)
        if verdicts:
            empty = figures.Bucket(0, 0)
            yes, partly, no = _suppress(
                [verdicts.get(v, empty) for v in ("yes", "partly", "no")], k
            )
            agreement.append(Agreement(stage, yes, partly, no))
    loop = LoopClosure(
        raw.updates,
        contributors,
        reached_people,
        percent(reached_people, contributors),
        agreement,
    )
    alerts = Alerts(
        visible(raw.alerts_raised, raw.alerts_raised_people, k),
        visible(raw.alerts_taken, raw.alerts_taken_people, k),
    )
    titles = {c.id: c.title for c in settings.checkins}
    quotes = [
        Quote(titles.get(checkin_id, checkin_id), _clip(redact(text)))
        for checkin_id, _question_id, text in raw.quotes[:MAX_QUOTES]
    ]
    return Digest(
        project=settings.project.name,
        week=week,
        first_day=first,
        last_day=first + timedelta(days=6),
        timezone=settings.project.timezone,
        min_group_size=k,
        participation=participation,
        checkins=checkins,
        questions=questions,
        stages=stages,
        every_stage=people(raw.every_stage),
        reached_stages=reached,
        loop=loop,
        alerts=alerts,
        quotes=quotes,
    )


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"


def _question(
    checkin_id: str,
    title: str,
    question: QuestionKind,
    now: figures.QuestionCounts,
    before: figures.QuestionCounts | None,
    k: int,
) -> QuestionFigures:
    if now.people < k:
        return QuestionFigures(
            checkin_id, title, question.id, question.text, question.kind, None, [], None, None
        )
    options = question.buckets()
    known = {value for value, _ in options}
    options += [(value, str(value)) for value in now.buckets if value not in known]
    shown = _suppress([now.buckets.get(v, figures.Bucket(0, 0)) for v, _ in options], k)
    previous_ok = before is not None and before.people >= k
    if previous_ok:
        assert before is not None
        previous_shown = _suppress(
            [before.buckets.get(v, figures.Bucket(0, 0)) for v, _ in options], k
        )
    buckets = []
    for i, (_, label) in enumerate(options):
        count = shown[i]
        prev = previous_shown[i] if previous_ok else None
        buckets.append(
            BucketFigures(
                label,
                count,
                percent(count, now.answers),
                percent(prev, before.answers) if before is not None and previous_ok else None,
            )
        )
    mean = _mean(question.aggregate, now)
    previous_mean = (
        _mean(question.aggregate, before) if previous_ok and before is not None else None
    )
    if question.aggregate is Aggregate.SHARE_YES:
        # The share of yes *is* a cell: hide it with the cells.
        if any(v is None for v in shown):
            mean = None
        if previous_ok and any(v is None for v in previous_shown):
            previous_mean = None
    return QuestionFigures(
        checkin_id,
        title,
        question.id,
        question.text,
        question.kind,
        now.people,
        buckets,
        mean,
        previous_mean,
    )


def _mean(aggregate: Aggregate, counts: figures.QuestionCounts) -> float | None:
    """The summary figure: the mean answer, or the percent who said yes (None: neither)."""
    if counts.answers == 0:
        return None
    if aggregate is Aggregate.MEAN:
        total = sum(
            value * b.answers for value, b in counts.buckets.items() if isinstance(value, int)
        )
        return total / counts.answers
    if aggregate is Aggregate.SHARE_YES:
        yes = counts.buckets.get(YES)
        return 100.0 * (yes.answers if yes else 0) / counts.answers
    return None


def _suppress(buckets: list[figures.Bucket], k: int) -> list[int | None]:
    """Hide cells from fewer than k people; if only one is hidden, hide the next smallest."""
    shown: list[int | None] = [visible(b.answers, b.people, k) for b in buckets]
    hidden = [i for i, v in enumerate(shown) if v is None]
    if len(hidden) == 1:
        others = [i for i, v in enumerate(shown) if v]
        if others:
            smallest = min(others, key=lambda i: buckets[i].answers)
            shown[smallest] = None
    return shown
