"""The services handlers use, exposed as typed properties of the callback context."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.clock import Clock
from bot.language import LANGUAGE
from bot.prompt_audio import AudioSender
from bot.settings import Settings
from bot.texts import Texts
from conversations.schedule import StageNow
from storage.db import Database

SERVICES_KEY = "everystage.services"


@dataclass
class Services:
    """What the bot runs with. ``db`` is opened in post_init and closed in post_shutdown."""

    settings: Settings
    texts: Texts
    clock: Clock
    config_path: Path | None = None
    _db: Database | None = field(default=None, repr=False)
    _stage: StageNow | None = field(default=None, repr=False)
    # One nudge tick at a time: the job and a coordinator's command may overlap.
    nudge_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    # The update source while serving (bot.polling.Poller); its ``failed`` future says why
    # polling had to stop for good (a revoked token).
    poller: Any = field(default=None, repr=False)
    # How updates arrive while serving: Telegram's webhook (several workers may share a
    # PostgreSQL database: bot/leader.py) or long polling (this process alone).
    webhook: bool = False
    # The voice-note transcriber (bot/voice/transcriber.py) while serving; None when
    # ``[voice] transcribe`` is off or before start-up.
    transcriber: Any = field(default=None, repr=False)
    # Questions' recordings: Telegram's file_id for each, and which went to whom.
    audio: AudioSender = field(default_factory=AudioSender, repr=False)
    # Each offered language's texts and content, loaded once (emptied when settings change).
    _by_language: dict[str, tuple[Texts, Settings]] = field(default_factory=dict, repr=False)

    @property
    def stage(self) -> StageNow:
        """The project's current stage (from the database once started, else the config)."""
        if self._stage is None:
            return StageNow(self.settings.project.stage, self.clock.now())
        return self._stage

    @stage.setter
    def stage(self, value: StageNow) -> None:
        self._stage = value

    def texts_for(self, settings: Settings) -> Texts:
        """The texts ``settings`` need: the current ones, or its locale's file (may raise)."""
        if settings.project.locale == self.settings.project.locale:
            return self.texts
        return Texts.load(settings.project.locale)

    def use(self, settings: Settings, texts: Texts) -> None:
        """Switch the running bot to new settings (handlers read them per update)."""
        self.settings = settings
        self.texts = texts
        self._by_language = {}

    def _in(self, language: str | None) -> tuple[Texts, Settings]:
        settings = self.settings
        if language is None or language == settings.project.locale:
            return self.texts, settings
        if language not in settings.project.offered:
            return self.texts, settings  # no longer offered (a reload): the default
        found = self._by_language.get(language)
        if found is None:
            found = (Texts.load(language), settings.localized(language))
            self._by_language[language] = found
        return found

    def texts_in(self, language: str | None) -> Texts:
        """The bot's words in ``language`` (None, or one not offered: the default)."""
        return self._in(language)[0]

    def settings_in(self, language: str | None) -> Settings:
        """The settings with the project's own texts (check-ins, consent) in ``language``."""
        return self._in(language)[1]

    @property
    def db(self) -> Database:
        """The open database."""
        if self._db is None:
            raise RuntimeError("the database is not open yet (post_init has not run)")
        return self._db

    @property
    def db_open(self) -> bool:
        """Whether a database is attached."""
        return self._db is not None

    def attach(self, db: Database) -> None:
        """Use ``db`` (opened by the caller: post_init, a benchmark) from now on."""
        self._db = db

    async def close_db(self) -> None:
        """Close the attached database, if any."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()


class BotContext(CallbackContext[ExtBot[Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with Everystage's services as typed properties."""

    @property
    def services(self) -> Services:
        """Everything the handlers need."""
        return services_of(self.application)

    @property
    def settings(self) -> Settings:
        """The loaded configuration, its texts in the language of this update's person."""
        return self.services.settings_in(LANGUAGE.get())

    @property
    def language(self) -> str:
        """The language of this update's person (bot/language.py)."""
        return LANGUAGE.get() or self.services.settings.project.locale

    @property
    def db(self) -> Database:
        """The open database."""
        return self.services.db

    @property
    def texts(self) -> Texts:
        """The bot's words, in the language of this update's person."""
        return self.services.texts_in(LANGUAGE.get())


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    """The Services an Application was built with."""
    return application.bot_data[SERVICES_KEY]
