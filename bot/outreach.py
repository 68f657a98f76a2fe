"""Stages and nudges: work out what is due from the database, then deliver it once.

One JobQueue job calls :func:`tick` every ``outbox.check_every_seconds``. A tick

1. records the latest occurrence of every scheduled check-in for every active person (the
   unique key makes this idempotent, so restarts and downtime never duplicate);
2. closes occurrences past their expiry (later answers are still kept, marked late);
3. sends every due opening message, reminder and outbox message, deferred past the person's
   quiet hours. Each send is an attempt recorded before the request leaves and settled with
   its outcome (storage/outbox.py): certainly-not-sent messages are due again later, a lost
   answer (5xx, timeout, dropped connection, a crash) means one more try and no more, so a
   person gets each message at least once and at most twice. A person who blocked the bot
   is marked unreachable.

With several workers (bot/leader.py) only the leader plans and expires (steps 1 and 2); every
worker sends (step 3), claiming small batches of due messages with ``FOR UPDATE SKIP LOCKED``
(storage/outbox.py), so together they spread a broadcast and a worker that dies leaves the rest
to the others. What a gone worker left in flight is settled as an unknown outcome by the
others' sweep (:func:`settle_abandoned`): sent once more, never again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import RetryAfter, TelegramError

from bot import leader
from bot.budget import BROADCAST, REPLY, Kind
from bot.callbacks import Button
from bot.delivery import Outcome, outcome_of, retry_after_seconds
from bot.keyboards import got_it_right_keyboard
from bot.services import Services, services_of
from bot.texts import Texts
from conversations.schedule import Person, Planner, QuietHours, StageNow
from storage import outbox, stages, you_said
from storage.outbox import DueMessage, NewOccurrence

log = logging.getLogger(__name__)

START, HOUR, TOMORROW = "start", "hour", "tomorrow"
SEND_CONCURRENCY = 32
# Due messages claimed at a time: few, since each claimed one is an attempt in flight until
# sent (a worker killed holding some leaves them to be sent once more by another).
CLAIM_BATCH = 8
# Seconds between tries inside one tick for a message certainly not sent (nothing can be
# doubled); after them, and after an uncertain outcome, a later tick tries again.
RETRY_DELAYS = (0.5, 1.0, 2.0)
RETRY_LATER = timedelta(minutes=1)
UNCERTAIN_RETRY = timedelta(seconds=10)
REPLY_PAUSES = (0.0, 0.5, 1.5, 4.0)  # seconds before each try of a reply someone awaits
KNOWN_SLACK = timedelta(days=7)  # downtime up to a week past expiry is still recorded


@dataclass
class TickReport:
    """What one tick did (for logs, tests and the benchmark)."""

    planned: int = 0
    expired: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    unreachable: int = 0
    retrying: int = 0  # not delivered this time; due again later
    uncertain: int = 0  # Telegram's answer was lost twice: maybe delivered, not counted
    seconds_planning: float = 0.0
    errors: list[str] = field(default_factory=list)


def zone_of(services: Services, timezone: str | None) -> ZoneInfo:
    """The person's time zone, or the project's."""
    return ZoneInfo(timezone or services.settings.project.timezone)


def quiet_of(services: Services, stored: str | None) -> QuietHours | None:
    """The person's quiet hours ("21:00-09:00", "off"), or the project's default."""
    if stored == "off":
        return None
    if stored:
        return QuietHours.parse(stored.split("-"))
    return services.settings.nudges.quiet


def nudge_keyboard(texts: Texts, occurrence_id: int) -> InlineKeyboardMarkup:
    """Start now / remind me in an hour / tomorrow."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("nudge.start"), callback_data=Button.NUDGE.data(occurrence_id, START)
                )
            ],
            [
                InlineKeyboardButton(
                    texts("nudge.in_an_hour"), callback_data=Button.NUDGE.data(occurrence_id, HOUR)
                ),
                InlineKeyboardButton(
                    texts("nudge.tomorrow"),
                    callback_data=Button.NUDGE.data(occurrence_id, TOMORROW),
                ),
            ],
        ]
    )


# ---------------------------------------------------------------------------------------------
# Stages.


async def sync_stage(app: Any) -> StageNow:
    """At start-up: make the database's stage match the config's, announcing a change."""
    services = services_of(app)
    wanted = services.settings.project.stage
    recorded = await stages.current_stage(services.db)
    if recorded is not None and not leader.is_leader(app):
        # With several workers the leader follows the config (a worker started with an older
        # file during an upgrade must not move the project back); the others read the stage.
        services.stage = StageNow(*recorded)
        return services.stage
    if recorded is None:
        await stages.enter_stage(services.db, wanted, services.clock.now(), "config")
    elif recorded[0] != wanted and await stages.last_config_stage(services.db) != wanted:
        # The config file was edited to a new stage. A stage a coordinator chose with /stage
        # stays until the config asks for a different one.
        return await change_stage(app, wanted, source="config")
    stage = await stages.current_stage(services.db)
    assert stage is not None
    services.stage = StageNow(*stage)
    return services.stage


async def change_stage(app: Any, stage: str, source: str) -> StageNow:
    """Move the project to ``stage`` and queue a message about it for every active person."""
    services = services_of(app)
    now = services.clock.now()

    def text(language: str | None) -> str:
        texts = services.texts_in(language)
        about = services.settings_in(language).project.stage_messages.get(stage, "").strip()
        made = texts("stage.changed", stage=stage) + (f"\n\n{about}" if about else "")
        return made + "\n\n" + texts("stage.how_to_take_part")

    key = f"stage:{stage}:{now.strftime('%Y%m%dT%H%M%S')}"
    # The stage and the news for everyone taking part are stored together.
    await stages.enter_stage(services.db, stage, now, source, news=(key, text))
    services.stage = StageNow(stage, now)
    return services.stage


# ---------------------------------------------------------------------------------------------
# Planning.


async def plan(services: Services, now: datetime) -> int:
    """Record the latest due occurrence of every scheduled check-in for every active person."""
    settings = services.settings
    stage = services.stage
    checkins = [c for c in settings.checkins_for_stage(stage.name) if c.schedule]
    if not checkins:
        return 0
    expiry = timedelta(hours=settings.nudges.expire_after_hours)
    # Older occurrences are long closed; no need to load or compute them on every tick.
    since = now - expiry - KNOWN_SLACK
    known = await outbox.known_keys(services.db, since)
    planner = Planner(stage, now)
    quiet_by_setting: dict[str | None, QuietHours | None] = {}
    send_times: dict[tuple[datetime, str, str | None], datetime] = {}
    fresh: list[NewOccurrence] = []
    for person in await outbox.recipients(services.db):
        zone = zone_of(services, person.timezone)
        who = Person(person.id, person.joined, zone, person.frequency)
        if person.quiet_hours not in quiet_by_setting:
            quiet_by_setting[person.quiet_hours] = quiet_of(services, person.quiet_hours)
        quiet = quiet_by_setting[person.quiet_hours]
        for checkin in checkins:
            for schedule in checkin.schedule:
                found = planner.latest(schedule, who, checkin.id)
                if found is None or found.due < since:
                    continue
                if (person.id, checkin.id, found.key) in known:
                    continue
                closes = found.due + expiry
                missed = closes <= now or (
                    settings.nudges.catch_up == "skip"
                    and now - found.due > timedelta(seconds=3 * settings.nudges.check_every_seconds)
                )
                moment = (found.due, zone.key, person.quiet_hours)
                if moment not in send_times:  # shared by everyone with the same due moment
                    send_times[moment] = quiet.defer(found.due, zone) if quiet else found.due
                send_at = send_times[moment]
                fresh.append(
                    NewOccurrence(
                        person.id,
                        checkin.id,
                        found.key,
                        found.due,
                        None if missed else send_at,
                        closes,
                        "missed" if missed else "pending",
                    )
                )
                known.add((person.id, checkin.id, found.key))
    return await outbox.add_occurrences(services.db, fresh)


# ---------------------------------------------------------------------------------------------
# Delivery.


async def tick(app: Any) -> TickReport:
    """Plan, expire and deliver. Overlapping calls wait for each other."""
    async with services_of(app).nudge_lock:
        return await _tick(app)


async def _tick(app: Any) -> TickReport:
    services = services_of(app)
    report = TickReport()
    now = services.clock.now()
    loop = asyncio.get_running_loop()
    if leader.is_leader(app):  # once per project: the leader (or the only process) plans
        started = loop.time()
        report.planned = await plan(services, now)
        report.seconds_planning = loop.time() - started
        report.expired = await outbox.expire(services.db, now)
    worker = leader.worker_id(app)
    claimed: list[outbox.Claimed] = []
    claiming = asyncio.Lock()
    exhausted = False

    def later(message: DueMessage) -> datetime | None:
        return _quiet_until(services, message, services.clock.now())

    async def next_claimed() -> outbox.Claimed | None:
        nonlocal exhausted
        async with claiming:
            while not claimed and not exhausted and _still_running(app):
                batch = await outbox.claim_due(
                    services.db, services.clock.now(), worker, CLAIM_BATCH, later
                )
                report.deferred += batch.postponed
                claimed.extend(batch.claimed)
                exhausted = batch.found == 0
            return claimed.pop(0) if claimed else None

    async def sender() -> None:
        # A few senders share small claimed batches: memory stays flat however many are due.
        while _still_running(app):
            item = await next_claimed()
            if item is None:
                return
            await _send_claimed(app, services, item.message, item.attempt, report)

    try:
        results = await asyncio.gather(
            *(sender() for _ in range(SEND_CONCURRENCY)), return_exceptions=True
        )
    finally:
        # Shutting down (or a sender failed): claimed but never sent, so never in flight;
        # they stay due and go out with the next tick or after the restart.
        await outbox.unclaim(services.db, [item.attempt for item in claimed])
    for result in results:
        if isinstance(result, BaseException):
            raise result
    if report.sent or report.failed or report.planned or report.retrying or report.uncertain:
        # One line per tick, however many sends failed (a 429 storm is one line, not hundreds).
        log.info(
            "nudges: planned %d, sent %d, deferred %d, retrying %d, uncertain %d, failed %d,"
            " unreachable %d%s",
            report.planned,
            report.sent,
            report.deferred,
            report.retrying,
            report.uncertain,
            report.failed,
            report.unreachable,
            f" ({', '.join(sorted(set(report.errors)))})" if report.errors else "",
        )
    return report


def _still_running(app: Any) -> bool:
    return bool(getattr(app, "running", True))


def _quiet_until(services: Services, message: DueMessage, now: datetime) -> datetime | None:
    """When the person's quiet hours end, if ``now`` is inside them (replies never wait)."""
    if message.kind == "reply":
        return None
    quiet = quiet_of(services, message.quiet_hours)
    if quiet is None:
        return None
    later = quiet.defer(now, zone_of(services, message.timezone))
    return later if later != now else None


async def _deliver(app: Any, services: Services, message: DueMessage, report: TickReport) -> None:
    now = services.clock.now()
    later = _quiet_until(services, message, now)
    if later is not None:
        await outbox.postpone(services.db, message, later)
        report.deferred += 1
        return
    attempt = await outbox.claim(services.db, message, now, leader.worker_id(app))
    if attempt is None:
        return
    await _send_claimed(app, services, message, attempt, report)


async def _send_claimed(
    app: Any, services: Services, message: DueMessage, attempt: int, report: TickReport
) -> None:
    """Send a message whose attempt is recorded, then settle the attempt with the outcome."""
    text, keyboard, next_reminder = _compose(services, message, services.clock.now())
    # A queued reply (a check-in's closing words) is for someone waiting: it goes first.
    priority = REPLY if message.kind == "reply" else BROADCAST
    outcome, error, wait = await _send(app, message.chat_id, text, keyboard, priority)
    if error:
        report.errors.append(error)
    finished = services.clock.now()
    if outcome is Outcome.UNCERTAIN:
        wait = wait or UNCERTAIN_RETRY
    result = await outbox.settle(
        services.db,
        message,
        attempt,
        outcome.value,
        finished,
        next_reminder=next_reminder,
        retry_at=finished + (wait or RETRY_LATER),
        error=error,
    )
    if result == outbox.SENT:
        report.sent += 1
    elif result == "retry":
        report.retrying += 1
    elif result == "gave_up":
        report.uncertain += 1
    elif result == outbox.UNREACHABLE:
        report.unreachable += 1
    elif result != outbox.TAKEN:  # taken: settled by a worker that took this one for gone
        report.failed += 1


async def _send(
    app: Any,
    chat_id: int,
    text: str,
    keyboard: InlineKeyboardMarkup | None,
    priority: Kind = BROADCAST,
) -> tuple[Outcome, str | None, timedelta | None]:
    """One delivery: (outcome, the error's type name, how long to wait before trying again).

    A failure that certainly sent nothing is tried again here a few times; an uncertain one is
    not (only the caller may send it again, once). ``priority`` is its place in the sending
    budget (bot/budget.py): broadcasts take what replies leave.
    """
    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            await app.bot.send_once(
                chat_id, text, reply_markup=keyboard, rate_limit_args={"priority": priority}
            )
            return Outcome.SENT, None, None
        except TelegramError as exc:
            outcome, name = outcome_of(exc), type(exc).__name__
            if outcome is not Outcome.NOT_SENT:
                return outcome, name, None
            if isinstance(exc, RetryAfter):
                # A flood wait applies to every send: leave this one to a later tick.
                return outcome, name, timedelta(seconds=retry_after_seconds(exc))
            if delay is None or not _still_running(app):
                return outcome, name, None
            await asyncio.sleep(delay * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def send_reply(app: Any, participant_id: str, key: str) -> bool:
    """Send a queued reply now; True if Telegram confirmed it.

    The person is waiting for it, so a failure is tried again after a short pause rather than
    at the next tick (up to ``REPLY_UNCERTAIN_LIMIT`` unknown outcomes in all). Whatever is
    still due after this goes with the nudge job.
    """
    services = services_of(app)
    for pause in REPLY_PAUSES:
        await asyncio.sleep(pause)
        message = await outbox.reply(services.db, participant_id, key)
        if message is None:
            return False
        report = TickReport()
        await _deliver(app, services, message, report)
        if not report.retrying:
            return report.sent == 1
    return False


async def recover_in_flight(app: Any) -> int:
    """At start-up: sends the last run began and never heard back about (it died meanwhile).

    Each counts as an unknown outcome: sent once more if it had no unknown outcome before.
    With several workers, only those of workers that are gone (:func:`settle_abandoned`).
    """
    services = services_of(app)
    await outbox.replies_due_now(services.db, services.clock.now())
    return await settle_abandoned(app)


async def settle_abandoned(app: Any) -> int:
    """Sends begun by a process that is gone (the last run; with several workers, any worker
    that is gone) and never heard back about: each counts as an unknown outcome. Settling is a
    claim (only an attempt still in flight is settled), so workers sweeping at once agree."""
    services = services_of(app)
    several = leader.worker_of(app) is not None
    found = await outbox.in_flight(services.db, abandoned=several)
    settled = 0
    for item in found:
        now = services.clock.now()
        _, _, next_reminder = _compose(services, item.message, now)
        result = await outbox.settle(
            services.db,
            item.message,
            item.attempt,
            outbox.UNCERTAIN,
            now,
            next_reminder=next_reminder,
            retry_at=now,
            error="interrupted",
        )
        settled += result != outbox.TAKEN
    if settled:
        log.warning(
            "%d message(s) were on their way when %s stopped; each goes out once more"
            " unless it already had a second try",
            settled,
            "a worker" if several else "the bot",
        )
    return settled


async def refresh_stage(app: Any) -> StageNow:
    """The stage as the database has it (another worker may have changed it)."""
    services = services_of(app)
    stage = await stages.current_stage(services.db)
    if stage is not None and (stage[0], stage[1]) != (services.stage.name, services.stage.entered):
        services.stage = StageNow(*stage)
    return services.stage


def _compose(
    services: Services, message: DueMessage, now: datetime
) -> tuple[str, InlineKeyboardMarkup | None, datetime | None]:
    """The text, buttons and (for nudges) when the next reminder is due."""
    if message.table == "outbox":
        assert message.text is not None
        keyboard = None
        if message.buttons:
            keyboard = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(label, callback_data=data) for label, data in row]
                    for row in json.loads(message.buttons)
                ]
            )
        elif message.key is not None and message.key.startswith(you_said.KEY_PREFIX):
            update_id = int(message.key.removeprefix(you_said.KEY_PREFIX))
            keyboard = got_it_right_keyboard(services.texts_in(message.language), update_id)
        return message.text, keyboard, None
    # In the person's language: the bot's words and the check-in's title.
    texts, settings = services.texts_in(message.language), services.settings_in(message.language)
    checkin = settings.checkin(message.checkin_id or "")
    title = checkin.title if checkin else (message.checkin_id or "")
    minutes = checkin.minutes if checkin else 5
    reminders = settings.nudges.reminders_after_hours
    if message.status == "pending":
        text = texts("nudge.opening", title=title, minutes=minutes)
        number = 0
    else:
        text = texts("nudge.reminder", title=title)
        number = message.reminders_sent + 1
    next_reminder = now + timedelta(hours=reminders[number]) if number < len(reminders) else None
    return text, nudge_keyboard(texts, message.id), next_reminder
