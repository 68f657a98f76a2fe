"""Safeguarding: screen every private message, offer support at once, alert the coordinators.

A message (a typed answer, a caption, an edit, anything) that matches a safeguarding phrase gets
a kind reply with the support resources straight away, at most once per conversation: once per
check-in, or once a day outside one. For a participant, an alert is stored and posted to the
coordinators' chat naming only their pseudonym and the check-in, never what they wrote unless
``safeguarding.share_text_in_alerts`` is set, with an "I'm on it" button. People who have not
agreed to take part (or who stopped) still get the resources, and nothing is stored about them.

The screen runs in handler group -1, before the usual handlers in group 0, so an answer that
matches is still stored as the answer and the check-in carries on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import delivery
from bot.callbacks import Button, parse
from bot.handlers.auditing import team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext, services_of
from bot.settings import Settings
from bot.texts import Texts
from conversations import engine
from conversations.engine import State
from conversations.safeguarding import Matcher, compile_phrases
from storage import alerts, participants
from storage.alerts import Alert
from storage.db import parse_utc
from storage.participants import Participant, Session

Where = tuple[str | None, str | None]  # a check-in and a question in it

log = logging.getLogger(__name__)

SCREEN_GROUP = -1
TAKE, FROM_LIST = "take", "list"
# Outside a check-in, support is offered again only after this long.
OFFER_EVERY_HOURS = 24.0
LIST_LIMIT = 20
_MATCHER_KEY = "everystage.safeguarding.matcher"
_OFFERED_KEY = "everystage.support_offered_at"  # in memory only, for people we keep nothing on


def register(app: Any) -> None:
    """Add the screen (group -1), /support, /alerts and the "I'm on it" button."""
    private = filters.ChatType.PRIVATE
    messages = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    app.add_handler(
        MessageHandler(private & messages & (filters.TEXT | filters.CAPTION), screen),
        group=SCREEN_GROUP,
    )
    app.add_handler(
        CommandHandler("support", support_command, filters=private & filters.UpdateType.MESSAGE)
    )
    app.add_handler(CommandHandler("alerts", alerts_command, filters=filters.UpdateType.MESSAGE))
    app.add_handler(Button.ALERT.handler(on_take))


def matcher(context: BotContext) -> Matcher:
    """The compiled phrases, rebuilt when the configuration (and so the phrases) changes."""
    return _matcher(context.bot_data, context.settings)


def _matcher(bot_data: dict[Any, Any], settings: Settings) -> Matcher:
    phrases = settings.safeguarding.phrases
    cached = bot_data.get(_MATCHER_KEY)
    if cached is None or cached[0] is not phrases:
        cached = (phrases, compile_phrases(phrases))
        bot_data[_MATCHER_KEY] = cached
    return cached[1]


async def screen_spoken(app: Any, person: Participant, words: str, where: Where) -> bool:
    """Screen the words heard in a person's voice note as a typed message is screened: on a
    match, support for them and an alert for the team (their words in it only when
    ``share_text_in_alerts``), once per conversation. True if the words matched.

    Runs outside any update (the transcriber hands the words over), so a failure is logged
    and never passed on.
    """
    services = services_of(app)
    settings = services.settings_in(person.language)
    category = _matcher(app.bot_data, settings).match(words)
    if category is None:
        return False
    try:
        now = services.clock.now()
        db = services.db
        session = await participants.session(db, person.id)
        if not await alerts.offer_support(
            db, person.id, session.session_id if session else None, now, OFFER_EVERY_HOURS
        ):
            return True  # already offered in this conversation
        alert = await alerts.create(
            db,
            person.id,
            category,
            now,
            checkin_id=where[0],
            question_id=where[1],
            shared_text=words if settings.safeguarding.share_text_in_alerts else None,
        )
        log.info("safeguarding: support offered after a voice note, alert %d raised", alert.id)
        texts = services.texts_in(person.language)
        reply = resources_text(texts, settings, "support.reached_out")
        reply += "\n\n" + texts("support.team_told")
        if not await delivery.send_message(app.bot, person.chat_id, reply):
            log.warning("safeguarding: could not send support for alert %d", alert.id)
        await post_alert(app, alert)
    except Exception as exc:
        log.error("safeguarding: a voice note's match failed: %s", type(exc).__name__, exc_info=exc)
    return True


# ---------------------------------------------------------------------------------------------
# Support for the person.


def resources_text(texts: Texts, settings: Settings, opening_key: str) -> str:
    """The opening line, the resources, and the reminder that this is not an emergency line."""
    lines = [texts(opening_key)]
    for resource in settings.safeguarding.resources:
        if resource.hours:
            lines.append(
                texts(
                    "support.resource_hours",
                    name=resource.name,
                    contact=resource.contact,
                    hours=resource.hours,
                )
            )
        else:
            lines.append(texts("support.resource", name=resource.name, contact=resource.contact))
    return "\n".join(lines) + "\n\n" + texts("support.not_emergency")


async def support_command(update: Update, context: BotContext) -> None:
    """/support: the resources, for anyone, any time. Nothing is stored."""
    await context.bot.send_message(
        chat_id_of(update), resources_text(context.texts, context.settings, "support.command")
    )


async def screen(update: Update, context: BotContext) -> None:
    """Look at every private message before it is handled; offer support on a match.

    Never stops the message being handled as usual, even if something here fails.
    """
    message = update.effective_message
    if message is None:
        return
    category = matcher(context).match(message.text or message.caption)
    if category is None:
        return
    try:
        await _on_match(update, context, category, message.text or message.caption or "")
    except Exception as exc:
        # No content, no ids: only that it failed and why.
        log.error("safeguarding: handling a match failed: %s", type(exc).__name__, exc_info=exc)


async def _on_match(update: Update, context: BotContext, category: str, text: str) -> None:
    db, texts, settings = context.db, context.texts, context.settings
    chat_id = chat_id_of(update)
    now = context.services.clock.now()
    person = await participants.by_chat(db, chat_id)
    if person is None or person.status == "stopped":
        # Not taking part: resources only, remembered in memory so we do not repeat ourselves.
        chat_data = context.chat_data if context.chat_data is not None else {}
        last = chat_data.get(_OFFERED_KEY)
        if last is not None and now - last < timedelta(hours=OFFER_EVERY_HOURS):
            return
        chat_data[_OFFERED_KEY] = now
        await context.bot.send_message(
            chat_id, resources_text(texts, settings, "support.reached_out")
        )
        log.info("safeguarding: support offered to someone not taking part")
        return

    session = await participants.session(db, person.id)
    if not await alerts.offer_support(
        db, person.id, session.session_id if session else None, now, OFFER_EVERY_HOURS
    ):
        return  # already offered in this conversation
    checkin_id, question_id = _where(settings, session)
    alert = await alerts.create(
        db,
        person.id,
        category,
        now,
        checkin_id=checkin_id,
        question_id=question_id,
        shared_text=text if settings.safeguarding.share_text_in_alerts else None,
    )
    log.info("safeguarding: support offered, alert %d raised", alert.id)

    reply = resources_text(texts, settings, "support.reached_out")
    reply += "\n\n" + texts("support.team_told")
    carry_on = carry_on_key(update, settings, session)
    if carry_on is not None:
        reply += "\n" + texts(carry_on)
    try:
        await context.bot.send_message(chat_id, reply)
    except TelegramError as exc:
        log.warning("safeguarding: could not send support for alert %d: %s", alert.id, exc.message)
    await post_alert(context.application, alert)


def carry_on_key(update: Update, settings: Settings, session: Session | None) -> str | None:
    """What to tell the person about their check-in, matching what this message does next.

    The screen runs before the message is handled, so it asks the (pure) engine what the
    message will do in the check-in: be the answer (then the next question follows, or the
    check-in ends), or not (the same question comes again, with a hint). An edit, a command or
    a voice note (which may be too big to keep) gets the way back that always works: /checkin.
    None outside a check-in (or one the configuration no longer has, which the check-in
    handler explains).
    """
    if session is None:
        return None
    checkin = settings.checkin(session.checkin_id)
    try:
        state = State.from_json(session.state)
    except (ValueError, KeyError):
        return None
    if checkin is None or not 0 <= state.index < len(checkin.questions):
        return None
    message = update.message  # None for an edit
    event: engine.Event
    if message is None or message.voice or message.audio:
        return "support.carry_on_later"
    if message.text is not None:
        first = message.entities[0] if message.entities else None
        if first is not None and first.type == MessageEntity.BOT_COMMAND and first.offset == 0:
            return "support.carry_on_later"
        event = engine.Text(message.text)
    else:
        event = engine.Unsupported("attachment")  # a photo or a file with a caption
    moved = engine.advance(checkin, state, event)
    if moved.stale or moved.hint is not None or moved.redraw:
        return "support.carry_on_same"
    return "support.carry_on_done" if moved.finished else "support.carry_on_next"


def _where(settings: Settings, session: Session | None) -> tuple[str | None, str | None]:
    """The check-in and the question the person is looking at, if they are in one."""
    if session is None:
        return None, None
    checkin = settings.checkin(session.checkin_id)
    question_id = None
    if checkin is not None:
        try:
            index = State.from_json(session.state).index
        except (ValueError, KeyError):
            index = -1
        if 0 <= index < len(checkin.questions):
            question_id = checkin.questions[index].id
    return session.checkin_id, question_id


# ---------------------------------------------------------------------------------------------
# Alerts for coordinators.


def _local(settings: Settings, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(settings.project.timezone))


def _where_text(texts: Texts, settings: Settings, alert: Alert) -> str:
    if alert.checkin_id is None:
        return texts("alerts.where_outside")
    checkin = settings.checkin(alert.checkin_id)
    title = checkin.title if checkin is not None else alert.checkin_id
    return texts("alerts.where_checkin", title=title, question=alert.question_id or "?")


def alert_text(texts: Texts, settings: Settings, alert: Alert) -> str:
    """What the coordinators' chat shows: pseudonym, check-in, time; the words only if shared."""
    raised = _local(settings, parse_utc(alert.raised_at))
    text = texts(
        "alerts.alert",
        pseudonym=alert.pseudonym,
        where=_where_text(texts, settings, alert),
        time=raised.strftime("%H:%M"),
        category=alert.category,
    )
    if alert.shared_text is not None:
        text += "\n" + texts("alerts.shared", text=alert.shared_text)
    else:
        text += "\n" + texts("alerts.not_shared")
    if alert.taken_by is not None and alert.taken_at is not None:
        taken = _local(settings, parse_utc(alert.taken_at))
        text += "\n\n" + texts("alerts.taken", who=alert.taken_by, time=taken.strftime("%H:%M"))
    return text[:4096]


def _take_keyboard(texts: Texts, alert: Alert) -> InlineKeyboardMarkup | None:
    if alert.taken_at is not None:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("alerts.take"), callback_data=Button.ALERT.data(alert.id, TAKE)
                )
            ]
        ]
    )


async def raise_alert(
    context: BotContext,
    participant_id: str,
    category: str,
    now: datetime,
    *,
    checkin_id: str | None,
    question_id: str | None,
    words: str | None,
) -> Alert:
    """Store an alert about a participant and post it to the coordinators' chat, as a typed
    answer's does: for what the team heard in a voice note (bot/handlers/listen.py). Their
    ``words`` go with it only when the project sets ``share_text_in_alerts``."""
    alert = await alerts.create(
        context.db,
        participant_id,
        category,
        now,
        checkin_id=checkin_id,
        question_id=question_id,
        shared_text=words if context.settings.safeguarding.share_text_in_alerts else None,
    )
    log.info("safeguarding: alert %d raised", alert.id)
    await post_alert(context.application, alert)
    return alert


async def post_alert(app: Any, alert: Alert) -> None:
    """Post the alert to the coordinators' chat; a failure is logged, never passed on."""
    services = services_of(app)
    settings, texts = services.settings, services.texts_in(None)  # the team's language
    chat_id = settings.coordinators.chat_id
    if chat_id is None:
        log.warning(
            "safeguarding: alert %d stored, but there is no coordinators' chat to post it to"
            " (set coordinators.chat_id); see /alerts",
            alert.id,
        )
        return
    try:
        sent = await app.bot.send_message(
            chat_id,
            alert_text(texts, settings, alert),
            reply_markup=_take_keyboard(texts, alert),
        )
    except TelegramError as exc:
        log.warning(
            "safeguarding: could not post alert %d to the coordinators' chat: %s",
            alert.id,
            exc.message,
        )
        return
    await alerts.set_message(services.db, alert.id, sent.message_id)


def age_text(texts: Texts, now: datetime, raised_at: str) -> str:
    """How long ago a stored time was, as alerts say it: "12 min", "3 h", "2 days"."""
    minutes = max(0, int((now - parse_utc(raised_at)).total_seconds() // 60))
    if minutes < 120:
        return texts("alerts.age_minutes", n=minutes)
    if minutes < 48 * 60:
        return texts("alerts.age_hours", n=minutes // 60)
    return texts("alerts.age_days", n=minutes // (24 * 60))


async def _open_list(context: BotContext) -> tuple[str, InlineKeyboardMarkup | None]:
    texts, settings = context.texts, context.settings
    now = context.services.clock.now()
    found = await alerts.open_alerts(context.db, LIST_LIMIT)
    if not found:
        return texts("alerts.none"), None
    counts = await alerts.count(context.db, now)
    lines = [texts("alerts.list_header", count=counts.open_now)]
    for alert in found:
        lines.append(
            texts(
                "alerts.list_item",
                pseudonym=alert.pseudonym,
                where=_where_text(texts, settings, alert),
                age=age_text(texts, now, alert.raised_at),
                category=alert.category,
            )
        )
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("alerts.take_named", pseudonym=alert.pseudonym),
                    callback_data=Button.ALERT.data(alert.id, FROM_LIST),
                )
            ]
            for alert in found
        ]
    )
    return "\n".join(lines)[:4096], keyboard


@team_only("alerts")
async def alerts_command(update: Update, context: BotContext) -> None:
    """/alerts: the open alerts, each with a button (the guard keeps it to coordinators)."""
    text, keyboard = await _open_list(context)
    await context.bot.send_message(chat_id_of(update), text, reply_markup=keyboard)


@team_only(Button.ALERT)
async def on_take(update: Update, context: BotContext) -> None:
    """ "I'm on it": record which coordinator took the alert (once), and show it."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    if len(args) != 2 or not args[0].isdigit() or args[1] not in (TAKE, FROM_LIST):
        await query.answer(texts("hint.stale"))
        return
    alert_id, source = int(args[0]), args[1]
    user = update.effective_user
    who = (user.full_name or (user.username and f"@{user.username}") or "?") if user else "?"
    taken, alert = await alerts.take(context.db, alert_id, who, context.services.clock.now())
    if alert is None:
        await query.answer(texts("alerts.gone"), show_alert=True)
        if source == TAKE:
            await _quietly(query.edit_message_reply_markup(None))
    else:
        if taken:
            log.info("safeguarding: alert %d taken", alert.id)
            await query.answer(texts("alerts.thanks"))
        else:
            await query.answer(texts("alerts.already", who=alert.taken_by), show_alert=True)
        await _show_taken(context, alert, query if source == TAKE else None)
    if source == FROM_LIST:
        text, keyboard = await _open_list(context)
        await _quietly(query.edit_message_text(text, reply_markup=keyboard))


async def _show_taken(context: BotContext, alert: Alert, query: CallbackQuery | None) -> None:
    """Show who is on it (and drop the button) on the alert message.

    Pressed on the alert itself: that message. Pressed in /alerts: the alert's message in the
    coordinators' chat, if it was posted there.
    """
    text = alert_text(context.texts, context.settings, alert)
    if query is not None:
        await _quietly(query.edit_message_text(text, reply_markup=None))
        return
    chat_id = context.settings.coordinators.chat_id
    if alert.message_id is None or chat_id is None:
        return
    await _quietly(
        context.bot.edit_message_text(
            text, chat_id=chat_id, message_id=alert.message_id, reply_markup=None
        )
    )


async def _quietly(edit: Any) -> None:
    """Edits are cosmetic: a message that is gone or unchanged must not stop anything."""
    try:
        await edit
    except BadRequest as exc:
        log.info("safeguarding: edit skipped: %s", exc.message)
    except TelegramError as exc:
        log.warning("safeguarding: edit failed: %s", exc.message)
