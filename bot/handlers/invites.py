"""Invites: ``/start <code>`` from a poster's link or QR code records the person's cohort.

The code is looked up when /start arrives and carried in the consent buttons' callback data
(``consent:<choice>:<version>:<code>``), so nothing about the person is stored before they say
yes. The codes themselves are made with ``everystage invite`` (see ``bot/cli.py``).
"""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackQueryHandler

from bot.handlers import consent

CONSENT_WITH_CODE = r"^consent:(yes|no|more):\d+:[A-Za-z0-9_-]{1,64}$"


def register(app: Any) -> None:
    """The consent buttons of an invited newcomer (the plain ones are wired in bot/app.py)."""
    app.add_handler(CallbackQueryHandler(consent.on_consent, pattern=CONSENT_WITH_CODE))
