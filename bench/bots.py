"""The two bots under test: Everystage with a benchmark config, and a bare PTB bot.

The bare bot makes the same Bot API calls per answer as Everystage (answerCallbackQuery,
editMessageText, sendMessage with the next question's keyboard) with no engine and no storage.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.app import build_application
from bot.sandbox.testing import TEST_TOKEN
from bot.settings import load_settings

CONCURRENCY = 64  # concurrent_updates for both bots (Everystage's default)
POLL_TIMEOUT = 10

AnyApp = Application[Any, Any, Any, Any, Any, Any]

# The benchmark's check-in: button questions only, so one press is one answer.
SCALE = ["1", "2", "3", "4", "5"]
YESNO = ["Yes", "No"]
CHOICE = ["Opening hours", "Waiting times", "How staff talk to us", "Something else"]
KINDS = ("scale", "yesno", "choice")
QUESTION_TEXT = {
    "scale": "How has your week been?",
    "yesno": "Did staff listen to you this week?",
    "choice": "If you could change one thing first, what would it be?",
}
CLOSING = "Thank you. Your answers go to the team this week."


def kind_of(index: int) -> str:
    """The kind of question ``index`` (0-based): scale, yesno, choice, scale, ..."""
    return KINDS[index % len(KINDS)]


# ---------------------------------------------------------------------------------------------
# Everystage's configuration for the run.


def bench_config(questions: int) -> str:
    """A minimal Everystage config: project, consent and one check-in of button questions."""
    parts = [
        '[project]\nname = "Everystage benchmark"\ncurrent_stage = "design"\n',
        "[telegram]\nrate_limit = false\n"
        f"poll_timeout = {POLL_TIMEOUT}\nconcurrent_updates = {CONCURRENCY}\n",
        '[storage]\npath = "bench.db"\nretention_days = 730\n',
        '[logging]\nlevel = "WARNING"\n',
        # Safeguarding phrases (the built-in ones) need somewhere to send people.
        '[[safeguarding.resources]]\nname = "Samaritans"\ncontact = "116 123"\nhours = "24/7"\n',
        '[consent]\nversion = 1\ntext = """\nWe keep your answers for {retention_days} days.\n'
        'Is that OK with you?"""\n',
        '[[checkins]]\nid = "bench"\ntitle = "Benchmark check-in"\n'
        f'intro = "A short check-in."\nclosing = "{CLOSING}"\n',
    ]
    for i in range(questions):
        kind = kind_of(i)
        question = f'  [[checkins.questions]]\n  id = "q{i + 1}"\n  kind = "{kind}"\n'
        question += f'  text = "{QUESTION_TEXT[kind]}"\n'
        if kind == "scale":
            question += '  min = 1\n  max = 5\n  min_label = "Very hard"\n'
            question += '  max_label = "Really good"\n'
        elif kind == "choice":
            question += "  options = [" + ", ".join(f'"{o}"' for o in CHOICE) + "]\n"
        parts.append(question)
    return "\n".join(parts)


def point_at(url: str, workdir: Path, database_url: str | None, *, rate_limit: bool) -> None:
    """Environment for an Everystage bot in this process: the sandbox at ``url``, a SQLite
    file in ``workdir`` (or the PostgreSQL database ``database_url``), the rate limiter."""
    os.environ.pop("EVERYSTAGE_STORAGE__URL", None)
    if database_url is not None:
        os.environ["EVERYSTAGE_STORAGE__URL"] = database_url
    os.environ |= {
        "EVERYSTAGE_TELEGRAM__TOKEN": TEST_TOKEN,
        "EVERYSTAGE_TELEGRAM__API_BASE_URL": url,
        "EVERYSTAGE_STORAGE__PATH": str(workdir / "bench.db"),
        "EVERYSTAGE_STORAGE__FILES_DIR": str(workdir / "files"),
        "EVERYSTAGE_TELEGRAM__RATE_LIMIT": "true" if rate_limit else "false",
    }


def build_everystage(
    url: str, workdir: Path, questions: int, database_url: str | None = None
) -> AnyApp:
    """The real Everystage Application, pointed at the sandbox and a temporary database
    (a SQLite file in ``workdir``, or the PostgreSQL database ``database_url``)."""
    config = workdir / "everystage.toml"
    config.write_text(bench_config(questions), encoding="utf-8")
    point_at(url, workdir, database_url, rate_limit=False)
    os.environ["EVERYSTAGE_TELEGRAM__CONCURRENT_UPDATES"] = str(CONCURRENCY)
    app = build_application(load_settings(config))
    synchronous = os.environ.get("EVERYSTAGE_BENCH_SYNCHRONOUS")
    if synchronous:
        # Only to measure what synchronous=FULL costs: the bot itself always runs with FULL.
        opened = app.post_init
        assert opened is not None

        async def post_init(application: AnyApp) -> None:
            await opened(application)
            services = application.bot_data["everystage.services"]
            await services.db.write(f"PRAGMA synchronous = {synchronous}")

        app.post_init = post_init
    return app


# ---------------------------------------------------------------------------------------------
# The bare bot: the same Bot API calls per answer, no engine, no storage.


def options_of(step: int) -> list[str]:
    """The button labels of question ``step``."""
    return {"scale": SCALE, "yesno": YESNO, "choice": CHOICE}[kind_of(step)]


def bare_keyboard(step: int) -> InlineKeyboardMarkup:
    """The same keyboard shape Everystage shows for question ``step``."""
    buttons = [
        InlineKeyboardButton(label, callback_data=f"q:{step}:c:{i}")
        for i, label in enumerate(options_of(step))
    ]
    rows = [[b] for b in buttons] if kind_of(step) == "choice" else [buttons]
    rows.append([InlineKeyboardButton("I'd rather not say", callback_data=f"q:{step}:s")])
    return InlineKeyboardMarkup(rows)


def bare_text(step: int, total: int) -> str:
    """The question text, with the same 'Question n of m' line."""
    return f"Question {step + 1} of {total}\n\n{QUESTION_TEXT[kind_of(step)]}"


def build_bare(url: str, questions: int) -> AnyApp:
    """A plain PTB bot with the same base_url and concurrency as Everystage."""
    app = (
        ApplicationBuilder()
        .token(TEST_TOKEN)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .concurrent_updates(CONCURRENCY)
        .build()
    )

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, bare_text(0, questions), reply_markup=bare_keyboard(0)
        )

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None and query.message is not None
        _, step_text, *choice = query.data.split(":")
        step = int(step_text)
        shown = options_of(step)[int(choice[1])] if len(choice) > 1 else "⏭ Skipped"
        chat_id = query.message.chat.id
        await query.answer()
        await context.bot.edit_message_text(
            f"{bare_text(step, questions)}\n\n✔ {shown}",
            chat_id=chat_id,
            message_id=query.message.message_id,
        )
        if step + 1 < questions:
            await context.bot.send_message(
                chat_id, bare_text(step + 1, questions), reply_markup=bare_keyboard(step + 1)
            )
        else:
            await context.bot.send_message(chat_id, CLOSING)

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(answer, pattern=r"^q:"))
    return app


@asynccontextmanager
async def polling(app: AnyApp) -> AsyncIterator[None]:
    """Run a plain Application the way bot.app.serving runs Everystage."""
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0, timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES
        )
        await app.start()
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()
