"""Logging that never writes what people told us, who they are, or the bot token.

Everystage holds special-category data, so redaction is not left to each call site: it happens
in ONE place every record passes, the root handler's formatter (`RedactingFormatter`), and it
is an allow-list, because names and free text cannot be recognised by pattern:

* Our own loggers (``bot``, ``storage``, ``conversations``, ``bench``, ``everystage`` and their
  children) are rendered in full: our code logs ids of updates, counts and durations, never
  content. Every other logger (python-telegram-bot, httpx, httpcore, aiosqlite, apscheduler,
  asyncio, aiohttp...) is rendered from its *template* only: ``record.msg`` with each
  ``%``-placeholder shown as ``…`` and the arguments never looked at. "Processing update %s"
  stays a useful line without the update in it.
* Exceptions, for every logger: the type names and the traceback frames (file, line, function,
  source line) are kept for the whole chain; the messages are dropped, except for the types in
  `_SAFE_MESSAGES`, whose text does not come from the people using the bot. Notes and local
  variables are never shown.
* Over the whole formatted text (message, traceback and stack alike): anything shaped like a bot
  token, ``/bot<token>`` and ``/file/bot<token>`` in URLs, the configured token and its secret
  half, and integers of six digits or more (Telegram user and chat ids, ``-100…`` groups).

The formatter never raises, and uncaught exceptions (main thread, other threads, unraisable)
are logged through it too, so a crash report is redacted like everything else.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterator
from types import TracebackType
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers whose messages (arguments included) are ours to vouch for. A name matches itself and
# its children ("bot" and "bot.handlers.checkin", not "botocore").
OUR_LOGGERS = ("bot", "storage", "conversations", "bench", "everystage")
# The logger uncaught exceptions are reported on.
CRASH_LOGGER = "everystage"

HIDDEN = "…"  # a placeholder of someone else's template
HIDDEN_MESSAGE = "<message hidden>"  # an exception's text that may carry user content
TOKEN = "<token>"
ID = "<id>"

# Exception types whose message is kept (still scrubbed for tokens and ids). Matched by module
# and name along the type's MRO, so nothing is imported here and subclasses count:
# * telegram.error.TelegramError and subclasses (BadRequest, Forbidden, RetryAfter, TimedOut,
#   NetworkError, InvalidToken...): the text is Telegram's error description ("Bad Request:
#   chat not found") or python-telegram-bot's own. InvalidToken names the token and ChatMigrated
#   the new chat id: the scrubs remove both.
# * sqlite3.Error and subclasses (IntegrityError...): SQLite's text names tables, columns and
#   constraints from our SQL, never the bound values.
# * TimeoutError (asyncio.TimeoutError and concurrent.futures.TimeoutError are the same type
#   since Python 3.11): empty or a fixed phrase.
# * Our operator-facing errors, worded for whoever runs the bot: bot.settings.ConfigError
#   ("FILE:LINE: key: problem" about the coordinators' own TOML), bot.polling.StartupError and
#   storage.transfer.HalfCopied (a database that migrate-db did not finish copying into).
# OSError (other than TimeoutError) keeps only "[Errno N] strerror", never the file names.
# Everything else (ValueError, KeyError, pydantic's ValidationError, ExceptionGroup...) shows
# only its type: their messages are built from whatever data was at hand.
_SAFE_MESSAGES = frozenset(
    {
        ("telegram.error", "TelegramError"),
        ("sqlite3", "Error"),
        ("builtins", "TimeoutError"),
        ("bot.settings", "ConfigError"),
        ("bot.polling", "StartupError"),
        ("storage.transfer", "HalfCopied"),
    }
)

_TOKEN_IN_URL = re.compile(r"/(file/)?bot\d+(?::|%3[Aa])[A-Za-z0-9_-]+")
_TOKEN_SHAPE = re.compile(r"\d+(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
# Six digits or more, not inside a longer word: ids, not "migration 3" or "06:55:26,123".
_LONG_NUMBER = re.compile(r"(?<!\w)-?\d{6,}(?!\w)")
# A printf-style conversion as `str % args` understands it (and %% for a literal %).
_PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)
# Where asctime goes while the rest is scrubbed: any datefmt survives, even one all digits.
_ASCTIME = "\x00ASCTIME\x00"

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def is_ours(name: str) -> bool:
    """Whether a logger name belongs to Everystage (its messages are rendered in full)."""
    return any(name == ours or name.startswith(ours + ".") for ours in OUR_LOGGERS)


def redact(text: str, token: str | None = None) -> str:
    """Remove bot tokens (any, and the configured one) and long numbers (ids) from text."""
    if token:
        text = text.replace(token, TOKEN)
        secret = token.partition(":")[2]
        if len(secret) >= 8:
            text = text.replace(secret, TOKEN)
    text = _TOKEN_IN_URL.sub(lambda m: f"/{m.group(1) or ''}bot{TOKEN}", text)
    text = _TOKEN_SHAPE.sub(TOKEN, text)
    return _LONG_NUMBER.sub(ID, text)


def template_of(msg: object) -> str:
    """A log call's template with every placeholder hidden; the arguments are never read."""
    if not isinstance(msg, str):
        # A library logging an object (an exception, a dict): its str() is its content.
        return f"<{type(msg).__name__}>"
    return _PLACEHOLDER.sub(lambda m: "%" if m.group() == "%%" else HIDDEN, str.__str__(msg))


def _asyncio_message(template: str) -> str:
    # asyncio's exception handler writes reprs into the message itself ("Exception in callback
    # set_result(<Future>, <the row>)", then "future: ..." lines): keep the first phrase.
    first = template.split("\n", 1)[0]
    cut = re.search(r"[(<='\"]", first)
    return first[: cut.start()].rstrip() + " " + HIDDEN if cut else first


def _httpcore_message(template: str) -> str:
    # httpcore pre-formats "event key=value ..." (hosts, response headers): keep the event.
    event, _, rest = template.partition(" ")
    return f"{event} {HIDDEN}" if rest else event


# Libraries that build messages without arguments, values included: only a safe part is kept.
_PREFORMATTED = {"asyncio": _asyncio_message, "httpcore": _httpcore_message}


def _safe_text(value: object) -> str | None:
    try:
        return str(value)
    except Exception:
        return None


def exception_message(exc: BaseException) -> str | None:
    """The part of str(exc) that may be shown (None: nothing), before the final scrub."""
    try:
        mro = type(exc).__mro__
        if any((getattr(t, "__module__", None), t.__qualname__) in _SAFE_MESSAGES for t in mro):
            return _safe_text(exc)
        if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.strerror:
            return f"[Errno {exc.errno}] {_safe_text(exc.strerror)}"
        return HIDDEN_MESSAGE if _safe_text(exc) else None
    except Exception:
        return HIDDEN_MESSAGE


def describe_exception(exc: BaseException) -> str:
    """An exception as our own messages may show it ("%s" of an exception): its allowed text,
    or its type when the text is hidden."""
    message = exception_message(exc)
    if message is None or message == HIDDEN_MESSAGE:
        return f"{_type_name(exc)}" + (f" ({HIDDEN_MESSAGE})" if message else "")
    return message


def _our_message(msg: object, args: Any) -> str:
    """record.getMessage() for our loggers, except that exceptions among the message and its
    arguments are shown by describe_exception(): their text is not ours to vouch for."""

    def shown(value: object) -> object:
        return describe_exception(value) if isinstance(value, BaseException) else value

    text = str(shown(msg))
    if isinstance(args, tuple) and args:
        return text % tuple(shown(arg) for arg in args)
    if isinstance(args, dict):
        return text % {key: shown(value) for key, value in args.items()}
    return text % args if args else text


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module in (None, "__main__", "builtins") else f"{module}.{name}"


def _exception_lines(
    te: traceback.TracebackException, exc: BaseException, depth: int = 0
) -> Iterator[str]:
    """Like TracebackException.format(), with each message replaced by exception_message().

    `te` and `exc` are walked in step: te gives the frames (and stops at cycles), exc the types.
    """
    # Outermost first; each entry carries the line that links it to the one before it.
    chain: list[tuple[str | None, traceback.TracebackException, BaseException]] = []
    current: tuple[traceback.TracebackException, BaseException] | None = (te, exc)
    while current is not None:
        t, e = current
        if t.__cause__ is not None and e.__cause__ is not None:
            link, current = _CAUSE, (t.__cause__, e.__cause__)
        elif t.__context__ is not None and e.__context__ is not None and not t.__suppress_context__:
            link, current = _CONTEXT, (t.__context__, e.__context__)
        else:
            link, current = None, None
        chain.append((link, t, e))
    for link, t, e in reversed(chain):
        if link is not None:
            yield link
        if t.stack:
            yield "Traceback (most recent call last):\n"
            yield from t.stack.format()
        message = exception_message(e)
        yield f"{_type_name(e)}: {message}\n" if message else f"{_type_name(e)}\n"
        subgroups = getattr(t, "exceptions", None)
        members = getattr(e, "exceptions", None)
        if subgroups and isinstance(members, tuple) and depth < 10:
            for number, (sub_t, sub_e) in enumerate(zip(subgroups, members, strict=False), 1):
                yield f"+---------------- {number} ----------------\n"
                for chunk in _exception_lines(sub_t, sub_e, depth + 1):
                    for line in chunk.splitlines(keepends=True):
                        yield "| " + line
            if len(members) > len(subgroups):
                yield f"+---------------- and {len(members) - len(subgroups)} more ---\n"


def format_exception(exc: BaseException) -> str:
    """A traceback of `exc` and its chain: types and frames kept, messages as allowed."""
    te = traceback.TracebackException.from_exception(exc, capture_locals=False)
    return "".join(_exception_lines(te, exc)).rstrip("\n")


_FRAME = re.compile(r'\s*File "[^"\n]*", line \d+(?:, in [^\s]+)?')
_KEPT_LINES = re.compile(
    r"\s*(?:Traceback \(most recent call last\):|\[Previous line repeated \d+ more times?\]"
    r"|The above exception was the direct cause of the following exception:"
    r"|During handling of the above exception, another exception occurred:|[~^\s]+)"
)
# "ValueError: ...", "telegram.error.BadRequest: ...": a type name, not a word of a message.
_EXCEPTION_LINE = re.compile(
    r"(?:[A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit|Iteration|Group|Cancelled)"
    r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?=:|$)"
)
_GUTTER = re.compile(r"(?:\s*[|+](?:-+(?: \d+ )?-*)?)*\s?")


def _only_frames(text: str) -> str:
    """A traceback someone else already rendered (exc_text without exc_info, e.g. a record
    from another process): keep frames, source lines and type names, drop everything else."""
    kept = []
    after_frame = False
    for line in text.splitlines():
        gutter = _GUTTER.match(line)
        body = line[gutter.end() :] if gutter else line
        if _FRAME.fullmatch(line) or _FRAME.fullmatch(body):
            kept.append(line)
            after_frame = True
            continue
        if (after_frame and line.startswith("    ")) or _KEPT_LINES.fullmatch(body):
            kept.append(line)  # the source line under a frame, carets, chain notes
        elif match := _EXCEPTION_LINE.match(body):
            kept.append(match.group())  # "ValueError: what was typed" -> "ValueError"
        after_frame = False
    return "\n".join(kept)


class RedactingFormatter(logging.Formatter):
    """Formats a record with nothing personal and no token in it; never raises."""

    def __init__(
        self, fmt: str | None = FORMAT, datefmt: str | None = None, token: str | None = None
    ) -> None:
        super().__init__(fmt, datefmt)
        self.token = token

    def format(self, record: logging.LogRecord) -> str:
        try:
            return self._format(record)
        except Exception:
            return self._fallback(record)

    def formatException(self, ei: Any) -> str:
        exc = ei[1] if isinstance(ei, tuple) and len(ei) == 3 else ei
        if not isinstance(exc, BaseException):
            return ""
        try:
            return format_exception(exc)
        except Exception:
            return f"{_type_name(exc)} (the traceback could not be formatted)"

    def message_of(self, record: logging.LogRecord) -> str:
        """%(message)s: ours in full, anyone else's template with the arguments hidden."""
        name = record.name if isinstance(record.name, str) else ""
        if is_ours(name):
            try:
                return _our_message(record.msg, record.args)
            except Exception:  # a bad format string or an argument whose str() fails
                return template_of(record.msg)
        message = template_of(record.msg)
        library = name.split(".", 1)[0]
        if library in _PREFORMATTED and not record.args:
            message = _PREFORMATTED[library](message)
        return message

    def _format(self, record: logging.LogRecord) -> str:
        view = copy.copy(record)  # other handlers see the record untouched
        view.message = self.message_of(record)
        view.msg, view.args = view.message, None
        view.exc_info, view.exc_text, view.stack_info = None, None, None
        if self.usesTime():
            view.asctime = _ASCTIME
        text = self.formatMessage(view)
        # A cached exc_text may have been rendered by another formatter: only trust exc_info.
        if record.exc_info:
            exc_text = self.formatException(record.exc_info)
        elif record.exc_text:
            exc_text = _only_frames(str(record.exc_text))
        else:
            exc_text = ""
        if exc_text:
            text = f"{text}\n{exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(str(record.stack_info))}"
        text = redact(text, self.token)
        if self.usesTime():
            text = text.replace(_ASCTIME, self.formatTime(record, self.datefmt))
        return text

    def _fallback(self, record: logging.LogRecord) -> str:
        try:
            level = str(getattr(record, "levelname", "?"))
            name = str(getattr(record, "name", "?"))
            return redact(f"{level} {name}: (a log record could not be formatted)", self.token)
        except Exception:
            return "(a log record could not be formatted)"


class RedactTokens(logging.Filter):
    """Kept for callers of the old API: removes tokens from a record's template and string
    arguments, leaving its shape (template and arguments) intact for `RedactingFormatter`.

    The guarantee is the formatter; this filter only helps handlers that do not use it.
    """

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            if isinstance(record.msg, str):
                record.msg = self._clean(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(self._clean(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: self._clean(v) for k, v in record.args.items()}
        except Exception:
            pass
        return True

    def _clean(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if self._token:
            value = value.replace(self._token, TOKEN)
        value = _TOKEN_IN_URL.sub(lambda m: f"/{m.group(1) or ''}bot{TOKEN}", value)
        return _TOKEN_SHAPE.sub(TOKEN, value)


def _log_uncaught(
    kind: type[BaseException] | None,
    value: BaseException | None,
    tb: TracebackType | None,
    where: str,
) -> None:
    if value is None:
        return
    if value.__traceback__ is None and tb is not None:
        value = value.with_traceback(tb)
    logging.getLogger(CRASH_LOGGER).critical("uncaught exception %s", where, exc_info=value)


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    # Ctrl-C too: the stdlib's hook would print the messages of whatever it interrupted.
    _log_uncaught(kind, value, tb, "in the main thread")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # as the default hook: a thread's exit is not an error
        return
    name = getattr(args.thread, "name", "?")
    _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, f"in thread {name}")


def _unraisablehook(unraisable: Any) -> None:
    # The default hook prints repr() of the object involved; the type of it is enough.
    where = f"ignored in {type(unraisable.object).__name__}"
    _log_uncaught(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback, where)


def setup_logging(
    level: str = "INFO", token: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Route every log record through a `RedactingFormatter` on one root handler.

    Safe to call more than once (the previous handlers are replaced). `stream` defaults to
    stderr. Returns the handler, whose ``formatter`` tests and callers can reuse.
    """
    root = logging.getLogger()
    root.setLevel(level.upper())  # an unknown level raises here, before anything changed
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(FORMAT, token=token))
    # Any other handler on the root would write records without the redaction.
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    debug = root.level <= logging.DEBUG
    # The stdlib's "--- Logging error ---" fallback prints the record's raw arguments.
    logging.raiseExceptions = False
    # The formatter is what keeps content out, so no library needs silencing for that. Below
    # DEBUG httpx (a line per request, every poll), httpcore, apscheduler (a line per job
    # run) and psycopg (its pool logs every connection it lends at INFO) are only noise; at
    # DEBUG they are let through, redacted like everything else.
    for noisy in ("httpx", "httpcore", "apscheduler", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.NOTSET if debug else logging.WARNING)
    logging.getLogger("telegram").setLevel(logging.NOTSET)
    # python-telegram-bot logs every 502 from Telegram's front end (an HTML page, not JSON)
    # as an ERROR with a traceback, and every 429 its rate limiter meets (a traceback once it
    # gives up): a storm would be a traceback per request. The bot reports Telegram's trouble
    # itself, one line per storm (bot.delivery.Trouble).
    for chatty in ("telegram.request.BaseRequest", "telegram.ext.AIORateLimiter"):
        logging.getLogger(chatty).setLevel(logging.NOTSET if debug else logging.CRITICAL)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook
    return handler
