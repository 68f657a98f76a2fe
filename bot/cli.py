"""The ``everystage`` command: run, check-config, export."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot.logs import setup_logging
from bot.settings import (
    CONFIG_ENV,
    TOKEN_ENV,
    WEBHOOK_SECRET_ENV,
    ConfigError,
    ConfigProblem,
    Settings,
    load_settings,
)
from conversations.schedule import AfterJoining, Schedule, StageEntry, Weekly
from storage.transfer import HalfCopied

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
BOT_USERNAME_ENV = "EVERYSTAGE_BOT_USERNAME"

log = logging.getLogger("everystage")

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141, as for `yes | head`: the reader stopped early
EXPORT_FORMAT_HELP = {
    "csv": "a table, one row per answer; Excel reads it as UTF-8; times ISO 8601 UTC",
    "json": "an array of answers, one object per line; times ISO 8601 UTC",
    "xlsx": "an Excel workbook: numbers as numbers, times as dates (UTC); needs --output",
}
EXPORT_FORMATS = "formats:\n" + "\n".join(
    f"  {name:<6}{text}" for name, text in EXPORT_FORMAT_HELP.items()
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="everystage",
        description="Everystage: keep people with lived experience involved at every stage.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--config", metavar="FILE", help=f"the TOML configuration (default: ${CONFIG_ENV})"
        )
        return p

    run_command = with_config(
        sub.add_parser("run", help="run the bot (long polling) until Ctrl-C or SIGTERM")
    )
    run_command.add_argument(
        "--webhook",
        action="store_true",
        help="take updates from Telegram's webhook at telegram.webhook_url instead of polling"
        f" (needs ${WEBHOOK_SECRET_ENV}); serves /healthz and /readyz too",
    )
    with_config(sub.add_parser("check-config", help="check a configuration file and summarise it"))
    export = with_config(
        sub.add_parser(
            "export",
            help="write pseudonymised answers as CSV, JSON or an Excel workbook",
            description="Write every answer (one row each) under a pseudonym: never a name or"
            " Telegram id.",
            epilog=EXPORT_FORMATS,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    export.add_argument(
        "--format",
        choices=tuple(EXPORT_FORMAT_HELP),
        default="csv",
        help="csv (default), json or xlsx: see 'formats' below",
    )
    export.add_argument(
        "--output", metavar="FILE", default="-", help="file to write, or - for stdout"
    )
    export.add_argument("--from", dest="since", metavar="DATE", help="first day (YYYY-MM-DD)")
    export.add_argument("--to", dest="until", metavar="DATE", help="last day, included")
    export.add_argument("--checkin", metavar="ID", help="only this check-in's answers")
    export.add_argument("--question", metavar="ID", help="only this question's answers")
    digest = with_config(
        sub.add_parser("digest", help="write the weekly digest for an ISO week (HTML, MD, CSV)")
    )
    digest.add_argument("--week", metavar="WEEK", help="e.g. 2026-W48 (default: last week)")
    digest.add_argument(
        "--format",
        choices=("html", "md", "csv", "power"),
        default="html",
        help="power: the tokenism meter alone, as CSV",
    )
    digest.add_argument(
        "--output", metavar="FILE", default="-", help="file to write, or - for stdout"
    )
    record = with_config(
        sub.add_parser("involvement", help="write each person's involvement (by pseudonym) as CSV")
    )
    record.add_argument("--from", dest="since", metavar="DATE", help="first day (YYYY-MM-DD)")
    record.add_argument("--to", dest="until", metavar="DATE", help="last day, included")
    record.add_argument(
        "--output", metavar="FILE", default="-", help="file to write, or - for stdout"
    )
    paid = with_config(
        sub.add_parser(
            "payments",
            help="write payments made for people's time, by code name, as CSV or Excel",
            description="One row per payment made in the period: its number, the code name,"
            " the day, the amount, the currency, how it was paid and what the person had asked"
            " for. Never a name or Telegram id.",
        )
    )
    paid.add_argument("--from", dest="since", metavar="DATE", help="first day (YYYY-MM-DD)")
    paid.add_argument("--to", dest="until", metavar="DATE", help="last day, included")
    paid.add_argument(
        "--format",
        choices=("csv", "xlsx"),
        default="csv",
        help="csv (default; Excel reads it as UTF-8) or xlsx (needs --output)",
    )
    paid.add_argument(
        "--output", metavar="FILE", default="-", help="file to write, or - for stdout"
    )
    invite = with_config(
        sub.add_parser("invite", help="make an invite link and QR code for a cohort")
    )
    invite.add_argument("--cohort", required=True, metavar="NAME", help="e.g. 'Riverside drop-in'")
    invite.add_argument(
        "--bot-username",
        metavar="NAME",
        default=os.environ.get(BOT_USERNAME_ENV),
        help=f"the bot's Telegram username (default: ${BOT_USERNAME_ENV})",
    )
    invite.add_argument(
        "--qr", metavar="FILE", help="QR code PNG to write (default: invite-<cohort>.png)"
    )
    move = with_config(
        sub.add_parser(
            "migrate-db",
            help="copy this project's database to a new one (SQLite to PostgreSQL, or back)",
            description="Copy every table to a new, empty database and compare row counts and"
            " checksums. Stop the bot first. The target's password comes from"
            " $EVERYSTAGE_TARGET_PASSWORD (or libpq's PGPASSWORD or ~/.pgpass).",
        )
    )
    move.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://USER@HOST:PORT/DB or sqlite:///FILE (no password in it)",
    )
    translations = sub.add_parser(
        "translations",
        help="files for translators: the project's texts as a sheet, the bot's as PO",
        description="export/import: check-ins, consent, stage messages and decisions, one row"
        " per text, one column per language of [project] languages; import writes the"
        " translators' work into the config (keeping its comments) and checks it."
        " bot-export/bot-import: the bot's own texts for one language as gettext PO.",
    )
    actions = translations.add_subparsers(dest="action", required=True, metavar="ACTION")
    sheet_out = with_config(
        actions.add_parser("export", help="write every text, one column per language")
    )
    sheet_out.add_argument(
        "--format", choices=("csv", "xlsx"), default="csv", help="csv (default) or xlsx"
    )
    sheet_out.add_argument(
        "--output", metavar="FILE", default="-", help="file to write, or - for stdout (csv)"
    )
    sheet_in = with_config(
        actions.add_parser("import", help="write a translated sheet's texts into the config")
    )
    sheet_in.add_argument("sheet", metavar="FILE", help="the sheet: .csv or .xlsx")
    sheet_in.add_argument(
        "--format", choices=("csv", "xlsx"), help="csv or xlsx (default: from the file name)"
    )
    demo = sub.add_parser(
        "demo", help="try the bot in a web chat page: local sandbox, no token, no network"
    )
    demo.add_argument(
        "--config",
        metavar="FILE",
        help="the TOML configuration (default: the example config shipped with Everystage)",
    )
    demo.add_argument("--port", type=int, default=8080, help="port of the page (default 8080)")
    demo.add_argument(
        "--db", metavar="PATH", help="database file (default: a temporary one, deleted on exit)"
    )
    _add_bot_translation_commands(actions)
    voice = sub.add_parser("voice", help="speech to text for voice notes")
    voice_actions = voice.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = voice_actions.add_parser(
        "fetch-model",
        help="download a faster-whisper model once, for [voice] engine = 'faster-whisper'",
        description="Needs 'pip install everystage[whisper]' and the internet, once; the bot"
        " itself never downloads anything. Needs no config.",
    )
    fetch.add_argument(
        "--size",
        default="small",
        help="tiny, base, small (default; good on a 2-core server), medium, large-v3, or a"
        " Hugging Face model id",
    )
    fetch.add_argument(
        "--to", metavar="DIR", help="folder to write (default: models/faster-whisper-<size>)"
    )
    return parser


def _fetch_model(args: argparse.Namespace) -> int:
    """``everystage voice fetch-model``: the one time a model crosses the network."""
    try:
        from faster_whisper import download_model
    except ImportError:
        print(
            "everystage: faster-whisper is not installed: pip install 'everystage[whisper]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    folder = Path(args.to or f"models/faster-whisper-{args.size}")
    try:
        saved = download_model(args.size, output_dir=str(folder))
    except Exception as exc:  # no network, unknown size: say which and what to do
        print(
            f"everystage: could not fetch the {args.size!r} model: {type(exc).__name__}: {exc}."
            " Fetch it on a machine with internet access and copy the folder here.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    print(
        f'The model is in {saved}. In your config:\n\n[voice]\nengine = "faster-whisper"\n'
        f'model_path = "{Path(saved).absolute()}"'
    )
    return EXIT_OK


# --- translations bot-export / bot-import: the bot's own texts (bot/locales/*.toml) ----------

BOT_TRANSLATION_COMMANDS = ("bot-export", "bot-import")


def _add_bot_translation_commands(actions: Any) -> None:
    export = actions.add_parser(
        "bot-export",
        help="write the bot's own texts for one language as a PO file",
        description="One message per text: msgctxt section.key, msgid the English, msgstr the"
        " translation (empty where there is none yet). Needs no config.",
    )
    export.add_argument("--locale", required=True, help="language, like pl, ro or ar")
    export.add_argument(
        "--output", metavar="FILE", help="PO file to write (default: <locale>.po; - for stdout)"
    )
    load = actions.add_parser(
        "bot-import",
        help="write a language's locale file from a translated PO file",
        description="Empty and fuzzy translations are left out (the bot says those in English)."
        " Nothing is written if a translation's {placeholders} differ from the English.",
    )
    load.add_argument("--locale", required=True, help="language, like pl, ro or ar")
    load.add_argument("--input", required=True, metavar="FILE", help="the translated PO file")
    load.add_argument(
        "--output", metavar="FILE", help="TOML to write (default: bot/locales/<locale>.toml)"
    )


def _bot_translations(args: argparse.Namespace) -> int:
    from bot import locale_files

    try:
        locale = locale_files.check_locale_name(args.locale)
    except ValueError as exc:
        print(f"everystage: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.action == "bot-export":
        data = locale_files.export_po(locale)
        target = args.output or f"{locale}.po"
        if target == "-":
            sys.stdout.buffer.write(data)
            return EXIT_OK
        Path(target).write_bytes(data)
        done, total = locale_files.coverage(
            locale_files.read_strings(locale_files.locale_path(locale)), locale_files.english()
        )
        print(f"{target}: {total} texts, {done} translated", file=sys.stderr)
        return EXIT_OK
    try:
        with open(args.input, "rb") as handle:
            path, result = locale_files.import_po(
                locale, handle, Path(args.output) if args.output else None
            )
    except OSError as exc:
        print(f"everystage: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.problems:
        for problem in result.problems:
            print(problem, file=sys.stderr)
        print(f"{len(result.problems)} problem(s) found; {path} not written.", file=sys.stderr)
        return EXIT_ERROR
    done, total = locale_files.coverage(result.strings, locale_files.english())
    print(f"{path}: {done} of {total} texts translated ({done * 100 // total}%)", file=sys.stderr)
    return EXIT_OK


# --- end of translations bot-export / bot-import ---------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``everystage`` console script."""
    from bot.filemodes import restrict_umask

    restrict_umask()  # every file the bot writes (database, voice notes, digests) is owner-only
    args = _parser().parse_args(argv)
    if broken := _install_problems():
        for problem in broken:
            print(f"everystage: {problem}", file=sys.stderr)
        from bot.install_check import ADVICE

        print(ADVICE, file=sys.stderr)
        return EXIT_ERROR
    if args.command == "demo":
        return _demo(args)
    if args.command == "voice":
        return _fetch_model(args)  # needs no config
    if args.command == "translations" and args.action in BOT_TRANSLATION_COMMANDS:
        return _bot_translations(args)  # needs no config
    warnings: list[ConfigProblem] = []
    try:
        settings = load_settings(
            args.config,
            warnings=warnings if args.command == "check-config" else None,
            untranslated_ok=args.command == "translations",
        )
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found.", file=sys.stderr)
        return EXIT_CONFIG
    try:
        return _command(settings, args, warnings)
    except HalfCopied as exc:  # see storage/transfer.py
        print(f"everystage: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _command(
    settings: Settings, args: argparse.Namespace, warnings: Sequence[ConfigProblem] = ()
) -> int:
    if args.command == "involvement":
        return _to_stdout(lambda: _involvement(settings, args.since, args.until, args.output))
    if args.command == "payments":
        return _to_stdout(lambda: _payments(settings, args))
    if args.command == "invite":
        return _invite(settings, args.cohort, args.bot_username, args.qr)
    if args.command == "check-config":
        print(summary(settings, args.config))
        if warnings:  # the config works: these are only advice, and the exit status stays 0
            from bot.readability import TARGET  # late: scoring is check-config's alone

            about = f"texts people read (Flesch reading ease; aim for {TARGET} or more)"
            if not all("reads hard" in warning.message for warning in warnings):
                about += " and questions' audio"  # bot/voice/prompts.py
            print(f"{len(warnings)} warning(s): {about}:")
            for warning in warnings:
                print(warning)
        return EXIT_OK
    if args.command == "export":
        return _to_stdout(lambda: _export_command(settings, args))
    if args.command == "translations":
        return _to_stdout(lambda: _translations(settings, args))
    if args.command == "digest":
        return _to_stdout(lambda: _digest_command(settings, args.week, args.format, args.output))
    if args.command == "migrate-db":
        from bot.migrate_db import migrate

        return asyncio.run(migrate(settings, args.to))
    return run(settings, Path(args.config or os.environ[CONFIG_ENV]), webhook=args.webhook)


def _translations(settings: Settings, args: argparse.Namespace) -> int:
    from bot import translation_sheet

    if args.action == "export":
        if args.format == "xlsx" and args.output == "-":
            print("everystage: xlsx needs --output FILE", file=sys.stderr)
            return EXIT_ERROR
        out = sys.stdout if args.output == "-" else Path(args.output)
        count = translation_sheet.export(settings, args.format, out)  # type: ignore[arg-type]
        if args.output != "-":
            print(f"{count} rows written to {args.output}", file=sys.stderr)
        return EXIT_OK
    try:
        count, files = translation_sheet.import_sheet(settings, Path(args.sheet), args.format)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found; nothing was changed.", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"everystage: cannot read {args.sheet}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not count:
        print(f"{args.sheet}: nothing to change", file=sys.stderr)
    else:
        print(f"{count} text(s) written to {', '.join(files)}", file=sys.stderr)
    return EXIT_OK


def _install_problems() -> list[str]:
    """Another package sharing the names of Everystage's own (see bot/install_check.py)."""
    from bot.install_check import problems

    return problems()


def _to_stdout(command: Callable[[], int]) -> int:
    """Run a command that may write to stdout; quietly stop if the reader goes away.

    ``everystage export | head``: when head exits, the next write fails with BrokenPipeError.
    As Python's docs recommend, point stdout at /dev/null (so the interpreter's final flush
    does not fail again) and exit as a process killed by SIGPIPE conventionally does.
    """
    try:
        code = command()
        sys.stdout.flush()  # inside the try: a pipe closed after the last write fails here
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


def _demo(args: argparse.Namespace) -> int:
    from bot.demo.server import default_config, run_demo  # late: other commands need no page

    config = Path(args.config) if args.config else default_config()
    db = Path(args.db) if args.db else None
    try:
        load_settings(config)  # report problems before anything starts
        asyncio.run(run_demo(config, args.port, db))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found.", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"could not start the demo: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def summary(settings: Settings, path: str | None) -> str:
    """A one-screen overview of a valid configuration."""
    project = settings.project
    versions = settings.translations.versions
    version = (
        "versions " + ", ".join(f"{code} {number}" for code, number in versions.items())
        if versions
        else f"version {settings.consent.version}"
    )
    lines = [
        f"{path or '(config)'}: OK",
        f"Project: {project.name} (time zone {project.timezone})",
        "Stages: "
        + " → ".join(f"[{s}]" if s == project.stage else s for s in project.stages)
        + "   ([current])",
        f"Consent: {version}; answers kept {settings.storage.retention_days} days",
        f"Check-ins: {len(settings.checkins)}",
    ]
    translations = settings.translations
    if len(translations.languages) > 1:
        lines.insert(-1, f"Languages: {translations.summary()}")
    for checkin in settings.checkins:
        kinds: dict[str, int] = {}
        for question in checkin.questions:
            kinds[question.kind] = kinds.get(question.kind, 0) + 1
        detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
        stages = ", ".join(checkin.stages) or "every stage"
        lines.append(
            f"  {checkin.id}: {len(checkin.questions)} questions ({detail}); stages: {stages}"
        )
        when = "; ".join(describe(s) for s in checkin.schedule) or "only when asked (/checkin)"
        lines.append(f"    sent: {when}")
    uncovered = [
        s
        for s in project.stages
        if not any(not c.stages or s in c.stages for c in settings.checkins)
    ]
    if uncovered:
        lines.append(f"Note: no check-in for stage(s) {', '.join(uncovered)} yet.")
    token = "set" if settings.telegram.token else f"not set (set {TOKEN_ENV} to run the bot)"
    lines.append(f"Bot API: {settings.telegram.api_base_url}; token {token}")
    telegram = settings.telegram
    if telegram.webhook_url is not None:
        secret = "set" if telegram.webhook_secret else f"not set (set {WEBHOOK_SECRET_ENV})"
        lines.append(
            f"Webhook (run --webhook): {telegram.webhook_url}, served on"
            f" {telegram.webhook_listen}{telegram.listen_path}; secret {secret}"
        )
    nudge = settings.nudges
    quiet = "-".join(nudge.quiet_hours) if nudge.quiet_hours else "none"
    reminders = ", ".join(f"{h:g}" for h in nudge.reminders_after_hours) or "no"
    lines.append(
        f"Nudges: reminders after {reminders} h; close after {nudge.expire_after_hours:g} h;"
        f" quiet hours {quiet}"
    )
    team = settings.coordinators
    chat = "set" if team.chat_id is not None else "not set (alerts and digests are only stored)"
    peers = len(settings.team.peer_researchers)
    lines.append(
        f"Coordinators: {len(team.user_ids)} listed; coordinators' chat {chat};"
        f" {peers} peer researcher(s)"
    )
    guard = settings.safeguarding
    phrases = sum(len(words) for words in guard.phrases.values())
    # Phrases without support resources never get this far: check-config refuses them.
    screening = (
        f"{phrases} phrases in {len(guard.phrases)} groups"
        if phrases
        else "no phrases, so messages are not screened"
    )
    alerts = "shared in alerts" if guard.share_text_in_alerts else "never shown in alerts"
    lines.append(
        f"Safeguarding: {screening}; {len(guard.resources)} support resources;"
        f" people's words {alerts}"
    )
    digest = settings.digest
    lines.append(
        f"Digest: {digest.weekday} {digest.time}; figures from fewer than"
        f" {digest.min_group_size} people hidden"
    )
    if settings.decisions:
        lines.append(f"Decisions ready for /decide: {', '.join(d.id for d in settings.decisions)}")
    lines.append(f"Database: {settings.storage.describe()}")
    return "\n".join(lines)


def describe(schedule: Schedule) -> str:
    """A schedule in a few words, for the summary."""
    if isinstance(schedule, Weekly):
        every = "every week" if schedule.every_weeks == 1 else f"every {schedule.every_weeks} weeks"
        return f"{every} on {', '.join(schedule.days)} at {schedule.time}"
    if isinstance(schedule, AfterJoining):
        return f"{schedule.days} days after joining" + (
            f" at {schedule.time}" if schedule.time else ""
        )
    if isinstance(schedule, StageEntry):
        return f"{schedule.delay_hours} h after a stage begins"
    return f"daily at a random time {schedule.window[0]}-{schedule.window[1]}"


def run(settings: Settings, config_path: Path | None = None, *, webhook: bool = False) -> int:
    """Run the bot with long polling (or Telegram's webhook) until SIGINT/SIGTERM; problems
    starting are one line."""
    token = settings.telegram.token
    setup_logging(settings.logging.level, token.get_secret_value() if token else None)
    if token is None:
        log.error("no bot token: set %s in the environment", TOKEN_ENV)
        return EXIT_CONFIG
    if webhook and settings.telegram.webhook_url is None:
        log.error(
            "--webhook needs telegram.webhook_url: the public https address Telegram sends"
            " updates to, like https://bot.example.org/telegram"
        )
        return EXIT_CONFIG
    if webhook and settings.telegram.webhook_secret is None:
        log.error(
            "--webhook needs a secret: set %s in the environment (1 to 256 letters, digits,"
            " _ or -; make one with: openssl rand -hex 32)",
            WEBHOOK_SECRET_ENV,
        )
        return EXIT_CONFIG
    from bot.app import build_application  # imported late: check-config needs no Telegram stack

    try:
        application = build_application(settings, config_path=config_path)
    except FileNotFoundError as exc:  # a locale file that is not there
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG
    log.info(
        "starting (%s); Bot API at %s",
        "webhook" if webhook else "long polling",
        settings.telegram.api_base_url,
    )
    code = asyncio.run(_serve(application, webhook=webhook))
    log.info("stopped")
    return code


async def _serve(application: Any, *, webhook: bool = False) -> int:
    """Serve until a stop signal; received updates are handled (or kept) before exiting.

    With ``webhook``, a stop signal drains: new deliveries get 503 (Telegram sends them
    again later), those being stored finish, and every update received is handled."""
    from bot.app import serving
    from bot.polling import StartupError
    from bot.services import services_of
    from storage.transfer import HalfCopied

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    serving_now = False

    async def body() -> None:
        nonlocal serving_now
        async with serving(application, webhook=webhook):
            serving_now = True
            failed = services_of(application).poller.failed
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({stopped, failed}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if failed.done():
                raise failed.result()

    task = asyncio.create_task(body())

    def on_signal() -> None:
        # While starting (e.g. waiting for Telegram to be reachable) there is nothing to
        # finish: stop at once. Once serving, stop cleanly.
        if serving_now:
            stop.set()
        else:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except (StartupError, HalfCopied) as exc:
        log.error("cannot start: %s", exc)
        return EXIT_ERROR
    except asyncio.CancelledError:
        return EXIT_OK
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return EXIT_OK


def _days(settings: Settings, since: str | None, until: str | None):  # type: ignore[no-untyped-def]
    """--from/--to days (project time zone, both included) as aware datetimes."""
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.project.timezone)
    start = datetime.combine(date.fromisoformat(since), time(), zone) if since else None
    end = (
        datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(), zone)
        if until
        else None
    )
    return start, end


def _export_command(settings: Settings, args: argparse.Namespace) -> int:
    from storage.export import Filters

    try:
        start, end = _days(settings, args.since, args.until)
    except ValueError as exc:
        print(f"dates are YYYY-MM-DD: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "xlsx" and args.output == "-":
        print("--format xlsx needs --output FILE", file=sys.stderr)
        return EXIT_CONFIG
    filters = Filters(since=start, until=end, checkin_id=args.checkin, question_id=args.question)
    return asyncio.run(_export(settings, args.format, args.output, filters))


async def _export(settings: Settings, fmt: str, output: str, filters=None) -> int:  # type: ignore[no-untyped-def]
    from bot.digest.progress import progress
    from storage import export
    from storage.db import Database

    if await _no_database(settings):
        return EXIT_ERROR
    labels = export.labels_of(settings.checkins, settings.project.locale)
    async with Database.opened(settings.storage) as db:
        if unknown := await export.unknown_filter(db, filters, labels):
            print(unknown, file=sys.stderr)  # and no file written: nothing would match
            return EXIT_CONFIG
        total = await export.count(db, filters)
        with progress("Exporting answers", total) as advance:
            if fmt == "xlsx":
                count = await export.write_xlsx(db, Path(output), filters, advance, labels)
            else:
                with _open_output(output) as out:
                    if fmt == "csv":
                        count = await export.write_csv(
                            db, out, filters, advance, bom=True, labels=labels
                        )
                    else:
                        count = await export.write_json(db, out, filters, advance, labels)
    if output != "-":
        print(f"wrote {count} answers to {output}", file=sys.stderr)
    return EXIT_OK


async def _no_database(settings: Settings) -> bool:
    """True (and says so) when there is no database file to read (PostgreSQL: the server
    says so when the database is opened)."""
    if settings.storage.is_postgres or await asyncio.to_thread(Path(settings.storage.path).exists):
        return False
    print(f"no database at {settings.storage.path}", file=sys.stderr)
    return True


def _digest_command(settings: Settings, week: str | None, fmt: str, output: str) -> int:
    from datetime import UTC, datetime

    from bot.digest import weeks

    try:
        if week:
            weeks.parse_week(week)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    chosen = week or weeks.previous(weeks.week_of(datetime.now(UTC), settings.project.timezone))
    return asyncio.run(_digest(settings, chosen, fmt, output))


async def _digest(settings: Settings, week: str, fmt: str, output: str) -> int:
    from bot.digest import content, html, markdown, tables
    from bot.digest.progress import progress
    from storage.db import Database

    if await _no_database(settings):
        return EXIT_ERROR
    with progress(f"Digest {week}", 2) as advance:
        async with Database.opened(settings.storage) as db:
            digest = await content.compute(db, settings, week)
        advance(1)
        renderer = {
            "html": html.render,
            "md": markdown.render,
            "csv": tables.render,
            "power": tables.render_power,
        }[fmt]
        text = await asyncio.to_thread(renderer, digest)
        advance(1)
    with _open_output(output) as out:
        out.write(text)
    if output != "-":
        print(f"wrote the {week} digest to {output}", file=sys.stderr)
    return EXIT_OK


def _involvement(settings: Settings, since: str | None, until: str | None, output: str) -> int:
    """Parse the period (days in the project's time zone, both included), then write the CSV."""
    zone = ZoneInfo(settings.project.timezone)
    try:
        start = datetime.combine(date.fromisoformat(since), time(), zone) if since else None
        end = (
            datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(), zone)
            if until
            else None
        )
    except ValueError as exc:
        print(f"dates are YYYY-MM-DD: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_write_involvement(settings, start, end, output))


async def _write_involvement(
    settings: Settings, since: datetime | None, until: datetime | None, output: str
) -> int:
    from storage import involvement
    from storage.db import Database

    if await _no_database(settings):
        return EXIT_ERROR
    async with Database.opened(settings.storage) as db:
        minutes_of = {c.id: c.minutes for c in settings.checkins}
        found = await involvement.records(db, minutes_of, since, until)
    with _open_output(output) as out:
        count = involvement.write_csv(found, settings.project.stages, out, bom=True)
    if output != "-":
        print(f"wrote {count} people to {output}", file=sys.stderr)
    return EXIT_OK


def _payments(settings: Settings, args: argparse.Namespace) -> int:
    """Parse the period (days, both included), then write the finance file."""
    try:
        since = date.fromisoformat(args.since) if args.since else None
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        print(f"dates are YYYY-MM-DD: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "xlsx" and args.output == "-":
        print("--format xlsx needs --output FILE", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(_write_payments(settings, since, until, args.format, args.output))


async def _write_payments(
    settings: Settings, since: date | None, until: date | None, fmt: str, output: str
) -> int:
    from storage import payments
    from storage.db import Database

    if await _no_database(settings):
        return EXIT_ERROR
    async with Database.opened(settings.storage) as db:
        found = await payments.between(db, since, until)
    if fmt == "xlsx":
        count = await payments.write_xlsx(found, Path(output))
    else:
        with _open_output(output) as out:
            count = payments.write_csv(found, out, bom=True)
    if output != "-":
        # Finance records: owner-only even when the file was there before, readable by others.
        await asyncio.to_thread(Path(output).chmod, 0o600)
        print(f"wrote {count} payments to {output}", file=sys.stderr)
    return EXIT_OK


def _invite(settings: Settings, cohort: str, username: str | None, qr: str | None) -> int:
    """Store a new code for the cohort; print its link and write its QR code."""
    import segno  # late: only this command draws

    from storage import invites

    if not username:
        print(
            f"the bot's username is needed: --bot-username NAME or ${BOT_USERNAME_ENV}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if not cohort.strip():
        print("the cohort needs a name", file=sys.stderr)
        return EXIT_CONFIG

    async def create() -> str:
        from storage.db import Database

        async with Database.opened(settings.storage) as db:
            return await invites.create(db, cohort, datetime.now(UTC))

    code = asyncio.run(create())
    link = invites.link(username, code)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", cohort).strip("-").lower() or "cohort"
    path = Path(qr or f"invite-{slug}.png")
    segno.make(link, error="m").save(path, scale=10, border=4)
    print(link)
    print(f"cohort {cohort!r}: QR code written to {path}", file=sys.stderr)
    return EXIT_OK


@contextlib.contextmanager
def _open_output(output: str):  # type: ignore[no-untyped-def]
    if output == "-":
        yield sys.stdout
        return
    handle: TextIO
    with open(output, "w", encoding="utf-8", newline="") as handle:
        yield handle


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
