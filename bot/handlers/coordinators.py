"""The team's commands: /stats (peer researchers too), /stage, /ask, /reload (coordinators).

They work in a private chat with a listed coordinator (or, for /stats, peer researcher) or in
the coordinators' group chat (the guard, :mod:`bot.access`, refuses them anywhere else and to
anyone below the command's role), are audited by
:func:`bot.handlers.auditing.team_only`, and never show participants' Telegram ids.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, filters

from bot import outreach
from bot.callbacks import Button, parse
from bot.commands import register_commands
from bot.digest import power, weeks
from bot.handlers.auditing import actor_of, team_only
from bot.handlers.common import chat_id_of
from bot.handlers.safeguarding import age_text
from bot.services import BotContext, Services
from bot.settings import ConfigError, load_settings
from bot.texts import Texts
from conversations.model import CheckIn
from storage import audit, figures, listens, outbox, stats, you_said
from storage import power as power_rows
from storage.outbox import NewOccurrence


def register(app: Any) -> None:
    """Add the coordinators' command handlers (the guard decides in which chats they work)."""
    where = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("stats", stats_command, filters=where))
    app.add_handler(CommandHandler("stage", stage, filters=where))
    app.add_handler(CommandHandler("ask", ask, filters=where))
    app.add_handler(CommandHandler("reload", reload, filters=where))
    app.add_handler(Button.STAGE.handler(on_stage))


def week_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 of the current week, in the project's time zone."""
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone)


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"


@team_only("stats")
async def stats_command(update: Update, context: BotContext) -> None:
    """/stats: who takes part, answers this week, response rates per check-in and stage,
    voice notes waiting to be heard."""
    services, texts = context.services, context.texts
    zone = ZoneInfo(context.settings.project.timezone)
    figures = await stats.compute(context.db, week_start(services.clock.now(), zone))
    lines = [
        texts(
            "coord.stats_title", project=context.settings.project.name, stage=services.stage.name
        ),
        texts(
            "coord.stats_people",
            active=figures.active,
            paused=figures.paused,
            stopped=figures.stopped,
            unreachable=figures.unreachable,
        ),
        texts("coord.stats_answers", count=figures.answers_this_week),
    ]
    if figures.by_checkin:
        lines.append(texts("coord.stats_by_checkin"))
        for checkin_id, (answered, asked) in figures.by_checkin.items():
            lines.append(f"• {checkin_id}: {answered} / {asked} ({_percent(answered, asked)})")
    if figures.by_stage or figures.stage_rates:
        lines.append(texts("coord.stats_by_stage"))
        for name in context.settings.project.stages:
            if name not in figures.by_stage and name not in figures.stage_rates:
                continue
            people, completed = figures.by_stage.get(name, (0, 0))
            answered, asked = figures.stage_rates.get(name, (0, 0))
            lines.append(
                texts(
                    "coord.stats_stage_line",
                    stage=name,
                    people=people,
                    done=completed,
                    rate=f"{answered} / {asked} ({_percent(answered, asked)})",
                )
            )
    if any(figures.by_cohort):
        lines.append(texts("coord.stats_by_cohort"))
        for cohort, count in figures.by_cohort.items():
            lines.append(f"• {cohort or texts('coord.no_cohort')}: {count}")
    verdicts = await you_said.agreement(context.db)
    if verdicts:
        total = you_said.Agreement(
            sum(a.yes for a in verdicts.values()),
            sum(a.partly for a in verdicts.values()),
            sum(a.no for a in verdicts.values()),
            sum(a.reasons for a in verdicts.values()),
        )
        lines.append(
            texts(
                "coord.stats_got_it",
                updates=len(verdicts),
                yes=total.yes,
                partly=total.partly,
                no=total.no,
                share=_percent(total.yes, total.answered),
                reasons=total.reasons,
            )
        )
    waiting = await listens.waiting(context.db)
    if waiting.count and waiting.oldest is not None:  # voice notes nobody has heard (/listen)
        age = age_text(texts, services.clock.now(), waiting.oldest)
        lines.append(texts("coord.stats_voice", count=waiting.count, age=age))
    meter = await power_now(context)
    if meter.anything:
        lines.append(texts("coord.stats_power"))
        fewer = texts("coord.fewer", k=meter.min_group_size)
        lines += [
            f"• {row.label}: {power.line(row, fewer)}" for row in meter.stages if not row.empty
        ]
        missing = [row.label for row in meter.stages if not row.input]
        if missing:
            lines.append(texts("coord.stats_no_input", stages=", ".join(missing)))
    await context.bot.send_message(chat_id_of(update), "\n".join(lines)[:4096])


async def power_now(context: BotContext) -> power.PowerMeter:
    """The tokenism meter up to now (this week's row last)."""
    settings = context.settings
    now = context.services.clock.now() + timedelta(microseconds=1)  # up to now, included
    reached = await figures.reached_stages(
        context.db, settings.project.stages, settings.project.stage, until=now
    )
    contributed = set(await figures.stages_with_answers(context.db, now))
    return power.build(
        await power_rows.gather(context.db, now),
        reached,
        contributed.__contains__,
        weeks.week_of(now, settings.project.timezone),
        settings.project.timezone,
        1,  # the team's raw figures, like the rest of /stats; the digest hides small numbers
    )


def _stage_keyboard(texts: Texts, stages: list[str], current: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(f"→ {name}", callback_data=Button.STAGE.data("to", index))]
            for index, name in enumerate(stages)
            if name != current
        ]
    )


async def _confirm(services: Services, target: str) -> tuple[str, InlineKeyboardMarkup]:
    texts = services.texts
    people = len(await outbox.recipients(services.db))
    index = services.settings.project.stages.index(target)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("coord.stage_yes", stage=target),
                    callback_data=Button.STAGE.data("yes", index),
                )
            ],
            [
                InlineKeyboardButton(
                    texts("coord.cancel"), callback_data=Button.STAGE.data("no", "-")
                )
            ],
        ]
    )
    return texts("coord.stage_confirm", stage=target, people=people), keyboard


@team_only("stage")
async def stage(update: Update, context: BotContext) -> None:
    """/stage [next|NAME]: show the stage, or ask to confirm moving to another."""
    services, texts = context.services, context.texts
    stages = context.settings.project.stages
    current = services.stage.name
    chat_id = chat_id_of(update)
    wanted = context.args[0].lower() if context.args else None
    if wanted is None:
        since = services.stage.entered.astimezone(ZoneInfo(context.settings.project.timezone))
        await context.bot.send_message(
            chat_id,
            texts("coord.stage_now", stage=current, since=f"{since:%d %b %Y}"),
            reply_markup=_stage_keyboard(texts, stages, current),
        )
        return
    if wanted == "next":
        position = stages.index(current) if current in stages else -1
        if position + 1 >= len(stages):
            await context.bot.send_message(chat_id, texts("coord.stage_last", stage=current))
            return
        wanted = stages[position + 1]
    if wanted not in stages:
        await context.bot.send_message(
            chat_id, texts("coord.stage_unknown", stage=wanted, stages=", ".join(stages))
        )
        return
    if wanted == current:
        await context.bot.send_message(chat_id, texts("coord.stage_already", stage=current))
        return
    text, keyboard = await _confirm(services, wanted)
    await context.bot.send_message(chat_id, text, reply_markup=keyboard)


@team_only(Button.STAGE)
async def on_stage(update: Update, context: BotContext) -> None:
    """The /stage buttons: pick a stage, then confirm or cancel."""
    query = update.callback_query
    assert query is not None
    services, texts = context.services, context.texts
    parsed = parse(query.data)
    stages = context.settings.project.stages
    if parsed is None or len(parsed.args) != 2:
        await query.answer(texts("hint.stale"))
        return
    action, index = parsed.args
    if action == "no":
        await query.answer()
        await query.edit_message_text(texts("coord.stage_cancelled"))
        return
    if not index.isdigit() or int(index) >= len(stages):
        await query.answer(texts("hint.stale"))
        return
    target = stages[int(index)]
    if action == "to":
        await query.answer()
        text, keyboard = await _confirm(services, target)
        await query.edit_message_text(text, reply_markup=keyboard)
        return
    if target == services.stage.name:
        await query.answer(texts("coord.stage_already", stage=target))
        return
    await query.answer()
    await outreach.change_stage(
        context.application, target, source=f"coordinator:{actor_of(update)}"
    )
    await audit.record(
        context.db, actor_of(update), "stage-changed", True, services.clock.now(), target
    )
    people = len(await outbox.recipients(context.db))
    await query.edit_message_text(texts("coord.stage_moved", stage=target, people=people))
    context.application.create_task(outreach.tick(context.application))


@team_only("ask")
async def ask(update: Update, context: BotContext) -> None:
    """/ask CHECKIN: send a check-in now to everyone taking part, at most once each."""
    texts, settings = context.texts, context.settings
    chat_id = chat_id_of(update)
    checkin_id = context.args[0] if context.args else ""
    checkin = settings.checkin(checkin_id)
    if checkin is None:
        ids = ", ".join(c.id for c in settings.checkins)
        await context.bot.send_message(chat_id, texts("coord.ask_which", checkins=ids))
        return
    # Keyed by the update: if the bot dies before this command counts as handled, doing it
    # again after the restart finds the same key and asks nobody twice.
    await ask_now(context, chat_id, checkin, f"ask:{update.update_id}")


async def ask_now(context: BotContext, chat_id: int, checkin: CheckIn, key: str) -> None:
    """Send ``checkin`` now to everyone taking part, once each per ``key``; say how many."""
    services, settings = context.services, context.settings
    now = services.clock.now()
    closes = now + timedelta(hours=settings.nudges.expire_after_hours)
    people = await outbox.recipients(context.db)
    queued = await outbox.add_occurrences(
        context.db,
        (NewOccurrence(p.id, checkin.id, key, now, now, closes) for p in people),
    )
    await context.bot.send_message(
        chat_id, context.texts("coord.ask_sending", title=checkin.title, people=queued)
    )
    context.application.create_task(outreach.tick(context.application))


@team_only("reload")
async def reload(update: Update, context: BotContext) -> None:
    """/reload: re-read the config file; a broken file keeps the old one running."""
    services, texts = context.services, context.texts
    chat_id = chat_id_of(update)
    if services.config_path is None:
        await context.bot.send_message(chat_id, texts("coord.reload_no_file"))
        return
    try:
        fresh = await asyncio.to_thread(load_settings, services.config_path)
        fresh_texts = await asyncio.to_thread(services.texts_for, fresh)
    except ConfigError as exc:
        problems = "\n".join(str(p) for p in exc.problems)
        await context.bot.send_message(
            chat_id, texts("coord.reload_failed", problems=problems)[:4096]
        )
        return
    except FileNotFoundError as exc:
        await context.bot.send_message(chat_id, texts("coord.reload_failed", problems=str(exc)))
        return
    services.use(fresh, fresh_texts)
    await register_commands(context.application)  # the coordinators listed may have changed
    await context.bot.send_message(
        chat_id, fresh_texts("coord.reloaded", checkins=len(fresh.checkins))
    )
