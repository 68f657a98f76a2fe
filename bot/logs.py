"""Logging that never writes the bot token, and keeps request URLs out of INFO."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_URL = re.compile(r"/(?:file/)?bot\d+:[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")


class RedactTokens(logging.Filter):
    """Replaces anything shaped like a bot token in every record."""

    def __init__(self, token: str | None = None):
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _TOKEN_IN_URL.sub("/bot<token>", message)
        cleaned = _TOKEN.sub("<token>", cleaned)
        if self._token:
            cleaned = cleaned.replace(self._token, "<token>")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str = "INFO", token: str | None = None) -> None:
    """Configure the root logger; safe to call more than once."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens(token))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL, which contains the token, at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG python-telegram-bot logs whole updates, message text included: never ours.
    logging.getLogger("telegram").setLevel(max(logging.INFO, root.level))
