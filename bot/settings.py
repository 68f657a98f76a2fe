"""Settings: one TOML file, overridable key by key from the environment.

``load_settings(path)`` reads the file (and the prompt files it includes), applies
``EVERYSTAGE_<SECTION>__<KEY>`` environment overrides, and validates everything. Every problem
is collected and raised together as a :class:`ConfigError` whose lines read
``FILE:LINE: key.path: what is wrong and how to fix it``.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import re
import tomllib
import types
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.texts import available, period_words
from bot.toml_lines import key_lines, line_of, syntax_advice
from bot.translations import Translations, extract, in_language, localize
from bot.voice import prompts as prompt_audio
from conversations.checks import Problem, check_checkins, check_decisions, check_stages
from conversations.decisions import DecisionSpec
from conversations.kinds import KINDS, QUESTION_KINDS, Question
from conversations.model import CheckIn
from conversations.questions import QuestionKind
from conversations.schedule import QuietHours, Schedule, parse_clock
from storage.participants import ConsentVersions

ENV_PREFIX = "EVERYSTAGE_"
CONFIG_ENV = "EVERYSTAGE_CONFIG"
TOKEN_ENV = "EVERYSTAGE_TELEGRAM__TOKEN"
WEBHOOK_SECRET_ENV = "EVERYSTAGE_TELEGRAM__WEBHOOK_SECRET"
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8443"
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)
HEALTH_PATHS = ("/healthz", "/readyz")
PUBLIC_BOT_API = "https://api.telegram.org"
DEFAULT_STAGES = ["design", "delivery", "commissioning", "evaluation"]


def _check_clock(value: str) -> None:
    """A time of day like '09:30', or ValueError."""
    parse_clock(value)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSettings(_Section):
    """The project: its name, time zone and stages."""

    name: str = Field(min_length=1, max_length=120)
    # What participants see in the welcome ("Hi, this is the Riverside Pathways bot"); by
    # default the name up to its first ':' (or ' - ').
    short_name: str | None = Field(default=None, min_length=1, max_length=60)
    timezone: str = "Europe/London"
    stages: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGES))
    current_stage: str | None = None
    locale: str = "en"
    # The languages people may choose (the bot's own words and, where the config gives them,
    # the check-ins); empty: only ``locale``, which is also the default for everyone.
    languages: list[str] = Field(default_factory=list)
    # A participant-facing text the config does not give in one of ``languages``: "error" (a
    # check-config problem at its line), or "default": it reads in ``locale``.
    missing_translations: Literal["error", "default"] = "error"
    # What each stage means for participants, sent to everyone when the project enters it.
    stage_messages: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a long name
            raise ValueError(
                f"'{value}' is not a time zone name; use one like 'Europe/London'"
            ) from None
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        names = available()
        if value not in names:
            raise ValueError(
                f"'{value}' is not a language Everystage has; available: {', '.join(names)}"
            )
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        names = available()
        unknown = [language for language in value if language not in names]
        if unknown:
            raise ValueError(
                f"{', '.join(repr(u) for u in unknown)}: not a language Everystage has;"
                f" available: {', '.join(names)}"
            )
        if len(set(value)) != len(value):
            raise ValueError("lists a language twice")
        return value

    @model_validator(mode="after")
    def _default_is_offered(self) -> ProjectSettings:
        if self.languages and self.locale not in self.languages:
            raise ValueError(f"languages must include locale '{self.locale}', the default")
        return self

    @property
    def offered(self) -> list[str]:
        """The languages people may choose, the project's default first."""
        rest = [language for language in self.languages if language != self.locale]
        return [self.locale, *rest]

    @property
    def stage(self) -> str:
        """The stage the project is in now."""
        return self.current_stage or self.stages[0]

    @property
    def display_name(self) -> str:
        """``short_name``, or the name before its subtitle: "Riverside Pathways: housing..."."""
        if self.short_name:
            return self.short_name.strip()
        head = re.split(r":|\s[-–—]\s", self.name, maxsplit=1)[0].strip()
        return head or self.name.strip()


class TelegramSettings(_Section):
    """How to reach the Bot API."""

    token: SecretStr | None = None
    api_base_url: str = PUBLIC_BOT_API
    rate_limit: bool = True
    poll_timeout: float = Field(default=10, ge=0, le=50)
    concurrent_updates: int = Field(default=64, ge=1, le=1024)
    # Webhook mode (`everystage run --webhook`): the public address Telegram posts updates to,
    # where this process listens for them (behind a TLS proxy), the path it serves them on
    # (default: the path of webhook_url), and how many deliveries Telegram may make at once.
    # The secret Telegram sends with each one comes from the environment only.
    webhook_url: str | None = None
    webhook_listen: str = DEFAULT_WEBHOOK_LISTEN
    webhook_path: str | None = None
    max_connections: int = Field(default=40, ge=1, le=100)
    webhook_secret: SecretStr | None = Field(default=None, repr=False)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"'{value}' is not an http(s) address like {PUBLIC_BOT_API}")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("https", "http") or not parts.hostname or port == -1:
            raise ValueError(
                f"'{value}' is not a web address like 'https://bot.example.org/telegram'"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query (?...) or a fragment (#...)")
        if info.data.get("api_base_url") == PUBLIC_BOT_API:
            # A self-hosted Bot API server (--local) and the sandbox call plain http, any port.
            if parts.scheme != "https":
                raise ValueError(
                    "must start with https://: Telegram only delivers updates over HTTPS"
                )
            if port not in (None, *TELEGRAM_WEBHOOK_PORTS):
                raise ValueError(
                    "Telegram only calls webhooks on ports 443, 80, 88 or 8443; leave the port"
                    " out (443) or use one of those"
                )
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})", value)
        if found is None or not 1 <= int(found.group(2)) <= 65535:
            raise ValueError(
                f"'{value}' is not a host and port like '{DEFAULT_WEBHOOK_LISTEN}' (a port from 1"
                " to 65535)"
            )
        return value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
            raise ValueError(
                "must start with / and hold only letters, digits and / . _ ~ -, like '/telegram'"
            )
        if value in HEALTH_PATHS:
            raise ValueError(f"{value} is the health check; choose another path, like '/telegram'")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Never repeat the value: it is a secret, and the message may be logged.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError(
                "must be 1 to 256 characters, each a letter A-Z or a-z, a digit, _ or -"
                " (Telegram's rule); make one with: openssl rand -hex 32"
            )
        return value

    @property
    def listen(self) -> tuple[str, int]:
        """``webhook_listen`` as (host, port); an IPv6 host without its brackets."""
        host, _, port = self.webhook_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def listen_path(self) -> str:
        """The path webhook updates are served on: ``webhook_path``, or webhook_url's path."""
        if self.webhook_path is not None:
            return self.webhook_path
        return urlsplit(self.webhook_url or "").path or "/"

    @property
    def base_url(self) -> str:
        """What python-telegram-bot calls ``base_url``."""
        return f"{self.api_base_url}/bot"

    @property
    def base_file_url(self) -> str:
        """What python-telegram-bot calls ``base_file_url``."""
        return f"{self.api_base_url}/file/bot"


STORAGE_PASSWORD_ENV = "EVERYSTAGE_STORAGE__PASSWORD"


class StorageSettings(_Section):
    """Where data is kept, and for how long.

    ``url`` names the database: ``postgresql://USER@HOST:PORT/DB``, or ``sqlite:///FILE``;
    without it the database is the SQLite file at ``path`` (the default). Given, ``url`` wins
    over ``path``: a sqlite URL's file becomes ``path``; with PostgreSQL, ``path`` only places
    the folders kept beside it by default (voice notes, digests). The password comes from the
    environment only (``password``, or libpq's PGPASSWORD/PGPASSFILE), never from the file.
    """

    path: Path = Path("everystage.db")
    url: str | None = None
    password: SecretStr | None = None
    # Connections to PostgreSQL each bot process keeps open (SQLite always uses one).
    pool_size: int = Field(default=4, ge=1, le=100)
    # PostgreSQL only: the schema this project's tables live in, so several projects share
    # one database without seeing each other's data (see README, "Many projects").
    pg_schema: str | None = Field(
        default=None, alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$", min_length=1
    )
    files_dir: Path | None = None
    retention_days: int = Field(default=730, ge=1, le=3650)
    # Voice notes (and any file) larger than this are refused before download. Telegram lets
    # bots download at most 20 MB, so that is also the most this can be.
    max_file_mb: float = Field(default=20, gt=0, le=20)

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        from storage.db import is_postgres, redacted, sqlite_path

        if value is None:
            return None
        example = "like 'sqlite:///everystage.db' or 'postgresql://everystage@localhost/everystage'"
        if is_postgres(value):
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
            except ValueError:
                raise ValueError(f"'{redacted(value)}' is not a database URL {example}") from None
            if not parts.path.strip("/"):
                raise ValueError(
                    f"'{redacted(value)}' names no database; add it at the end, like "
                    "'postgresql://everystage@localhost/everystage'"
                )
            return value
        if value.lower().startswith("sqlite:"):
            if not str(sqlite_path(value)).strip("/."):
                raise ValueError(f"'{value}' names no file; {example}")
            return value
        raise ValueError(f"'{redacted(value)}' is not a database URL {example}")

    @model_validator(mode="after")
    def _sqlite_url_is_the_path(self) -> StorageSettings:
        from storage.db import is_postgres, sqlite_path

        if self.url is not None and not is_postgres(self.url):
            self.path = sqlite_path(self.url)
        return self

    @property
    def is_postgres(self) -> bool:
        """Whether the database is PostgreSQL (else the SQLite file at ``path``)."""
        from storage.db import is_postgres

        return self.url is not None and is_postgres(self.url)

    @property
    def database_url(self) -> str:
        """The database to open: the PostgreSQL URL, or ``sqlite:///`` and the file."""
        return self.url if self.url is not None and self.is_postgres else f"sqlite:///{self.path}"

    @property
    def database_schema(self) -> str | None:
        """The PostgreSQL schema of this project (None: the role's default search path)."""
        return self.pg_schema if self.is_postgres else None

    @property
    def database_password(self) -> str | None:
        """The PostgreSQL password from the environment, if given there."""
        return self.password.get_secret_value() if self.password is not None else None

    def describe(self) -> str:
        """Where the database is, for people: the file, or the URL (never a password)."""
        from storage.db import redacted

        if self.url is None or not self.is_postgres:
            return str(self.path)
        return redacted(self.url) + (f" (schema {self.pg_schema})" if self.pg_schema else "")

    @property
    def files_path(self) -> Path:
        """Folder for voice notes: ``files_dir``, or ``files/`` beside the database."""
        return self.files_dir or self.path.parent / "files"


class ConsentSettings(_Section):
    """The consent text people agree to; bump ``version`` when it changes.

    In the file ``version`` may be a table, one per language (``{ en = 3, pl = 1 }``): here it
    is the default language's, and :meth:`Settings.consent_version_for` gives each one's.
    """

    version: int = Field(default=1, ge=1)
    text: str = Field(min_length=1, max_length=3500)
    more: str = Field(default="", max_length=3500)


class PrivacySettings(_Section):
    """Who is responsible for people's data, for the /privacy notice."""

    # Who runs the project and decides what happens to the data; default: the project's name.
    organisation: str | None = Field(default=None, min_length=1, max_length=200)
    # How to reach them about data or to complain: a name, an email, a phone number; default:
    # "the project team" (in the bot's language).
    contact: str | None = Field(default=None, min_length=1, max_length=300)


class NudgeSettings(_Section):
    """When and how often people are reminded."""

    reminders_after_hours: list[float] = Field(default_factory=lambda: [24.0], max_length=5)
    expire_after_hours: float = Field(default=72, gt=0, le=24 * 60)
    quiet_hours: tuple[str, str] | None = ("21:00", "09:00")
    catch_up: Literal["send_if_open", "skip"] = "send_if_open"
    check_every_seconds: float = Field(default=60, ge=1, le=3600)
    time_zones: list[str] = Field(
        default_factory=lambda: ["Europe/London", "Europe/Dublin", "Europe/Paris", "UTC"],
        max_length=12,
    )

    @field_validator("quiet_hours")
    @classmethod
    def _clock_pair(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            for part in value:
                _check_clock(part)
        return value

    @field_validator("time_zones")
    @classmethod
    def _zones(cls, zones: list[str]) -> list[str]:
        for zone in zones:
            ProjectSettings._known_zone(zone)
        return zones

    @property
    def quiet(self) -> QuietHours | None:
        """The project's default quiet hours."""
        return QuietHours.parse(self.quiet_hours)


class CoordinatorSettings(_Section):
    """Who runs the project: Telegram user ids, and the coordinators' group chat."""

    user_ids: list[int] = Field(default_factory=list)
    chat_id: int | None = None


class TeamSettings(_Section):
    """The rest of the team: peer researchers, experts by experience who work with the
    coordinators (see :mod:`bot.access` for what they may do)."""

    peer_researchers: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list)


class SupportResource(_Section):
    """A place to get help, shown by /support and after a safeguarding match."""

    name: str = Field(min_length=1, max_length=120)
    contact: str = Field(min_length=1, max_length=200)
    hours: str = ""


DEFAULT_PHRASES: dict[str, list[str]] = {
    "suicide": [
        "kill myself",
        "end my life",
        "end it all",
        "suicide",
        "suicidal",
        "better off dead",
        "want to die",
        "don't want to be here",
        "dont want to be here",
        "no reason to live",
    ],
    "self-harm": ["self harm", "self-harm", "hurt myself", "cut myself", "cutting myself"],
    "overdose": ["overdose", "overdosed", "od'd", "took too many", "too many pills"],
    "harm from others": [
        "he hits me",
        "she hits me",
        "hurting me",
        "beat me",
        "not safe at home",
        "scared of him",
        "scared of her",
        "threatened me",
    ],
    "harm to others": ["hurt someone", "kill him", "kill her", "kill them"],
}


class SafeguardingSettings(_Section):
    """Words that suggest someone may be at risk, and where to get help."""

    phrases: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_PHRASES))
    resources: list[SupportResource] = Field(default_factory=list)
    share_text_in_alerts: bool = False


class PromptSettings(_Section):
    """Extra files with ``[[checkins]]``, relative to the config file (globs allowed)."""

    include: list[str] = Field(default_factory=list)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestSettings(_Section):
    """The weekly digest: when it goes to the coordinators' chat, and small-number hiding."""

    # Any figure based on fewer people than this shows "fewer than N" instead.
    min_group_size: int = Field(default=3, ge=1, le=100)
    # Sent for the week just finished, on this day and time in the project's time zone.
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: str = "09:00"
    # Where digests are also written; relative paths are relative to the database's folder.
    output_dir: Path = Path("digests")

    @field_validator("time")
    @classmethod
    def _clock(cls, value: str) -> str:
        _check_clock(value)
        return value


class RecognitionSettings(_Section):
    """Paying people for their time: the currency, and how long payment records are kept."""

    # ISO 4217 code of the currency payments are made in (amounts are stored in its minor
    # units: pence, cents).
    currency: str = "GBP"
    # Payment records are kept this many years after the day paid, even after the person
    # erases their data (under their code name only), then deleted: finance law (HMRC: 6).
    retention_years: int = Field(default=6, ge=1, le=20)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        from babel.numbers import is_currency

        code = value.strip().upper()
        if not is_currency(code):
            raise ValueError(f"'{value}' is not a currency code; use three letters, like \"GBP\"")
        return code


class VoiceSettings(_Section):
    """Voice notes made into words on this machine (nothing is sent anywhere to do it).

    ``engine``: "pocketsphinx" runs out of the box but understands only English and mishears
    often; "faster-whisper" (``pip install 'everystage[whisper]'`` and ``everystage voice
    fetch-model``) is far better and speaks many languages. Until a person confirms the words,
    their voice note also waits for a coordinator to listen to it (``/listen``).
    """

    transcribe: bool = True
    engine: Literal["pocketsphinx", "faster-whisper"] = "pocketsphinx"
    # faster-whisper's model folder; relative paths are relative to the config file.
    model_path: Path | None = None
    # Worker processes transcribing at once; each holds a model in memory (see bench/voice.py).
    workers: int = Field(default=1, ge=1, le=8)
    # The transcriber's queue is bounded: beyond this many notes waiting, new ones go to the
    # coordinators' listen queue only.
    max_waiting: int = Field(default=500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _whisper_needs_a_model(self) -> VoiceSettings:
        if self.transcribe and self.engine == "faster-whisper" and self.model_path is None:
            raise ValueError(
                "engine 'faster-whisper' needs model_path: the folder 'everystage voice"
                " fetch-model' wrote"
            )
        return self

    @property
    def languages(self) -> frozenset[str] | None:
        """The languages the engine understands (None: any)."""
        return frozenset({"en"}) if self.engine == "pocketsphinx" else None


class LoggingSettings(_Section):
    """Log level for the bot's own messages."""

    level: str = "INFO"


class Settings(BaseSettings):
    """Everything Everystage is configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    project: ProjectSettings
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    consent: ConsentSettings
    prompts: PromptSettings = Field(default_factory=PromptSettings)
    nudges: NudgeSettings = Field(default_factory=NudgeSettings)
    coordinators: CoordinatorSettings = Field(default_factory=CoordinatorSettings)
    team: TeamSettings = Field(default_factory=TeamSettings)
    safeguarding: SafeguardingSettings = Field(default_factory=SafeguardingSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    checkins: list[CheckIn] = Field(min_length=1)
    decisions: list[DecisionSpec] = Field(default_factory=list)

    # The texts in every language (bot/translations.py), the language this copy is in, and the
    # copies made in other languages.
    _translations: Translations | None = PrivateAttr(default=None)
    _language: str | None = PrivateAttr(default=None)
    _copies: _Copies = PrivateAttr(default_factory=lambda: _Copies(None))
    # The questions' recordings, read by load_settings (bot/voice/prompts.py), by absolute path.
    _audio: dict[str, prompt_audio.PromptAudio] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment wins over them.
        return (env_settings, init_settings)

    @property
    def translations(self) -> Translations:
        """Every participant-facing text, in each language the config gives it in."""
        if self._translations is not None:
            return self._translations
        project = self.project
        return Translations(default=project.locale, languages=tuple(project.offered))

    @property
    def language(self) -> str:
        """The language this copy's participant-facing texts are in (see :meth:`localized`)."""
        return self._language or self.project.locale

    def localized(self, language: str) -> Settings:
        """These settings with every participant-facing text in ``language``: check-ins'
        titles, intros, closings, questions and their options' labels, the consent text and
        its version, stage messages, decisions, support resources.

        A text the config does not give in ``language`` reads in the default language (which
        check-config only allows with ``missing_translations = "default"``), and so does every
        text for a language that is not one of ``project.languages``. Ids, options' values (what
        answers store) and everything else are the same in every copy. Made once per language.
        """
        if self._language is not None and self._copies.base is not None:  # a copy in a language
            return self._copies.base.localized(language)
        if self._copies.base is not self:
            self._copies = _Copies(self)  # not the copies of the settings this was copied from
        translations = self.translations
        if language == translations.default or language not in translations.languages:
            return self
        found = self._copies.made.get(language)
        if found is None:
            found = localize(self, translations, language)
            found._language = language
            found._copies = _Copies(self)
            self._copies.made[language] = found
        return found

    @property
    def consent_versions(self) -> ConsentVersions:
        """Each language's current consent version, for choosing who has agreed to it."""
        base = self._copies.base if self._language and self._copies.base is not None else self
        translations = base.translations
        return ConsentVersions(
            base.consent.version,
            {
                language: version
                for language, version in translations.versions.items()
                if language in translations.languages and language != translations.default
            },
        )

    def consent_version_for(self, language: str) -> int:
        """The consent version people reading ``language`` agree to (consent.version as an
        int, or its entry for that language)."""
        base = self._copies.base if self._language and self._copies.base is not None else self
        if language not in base.translations.languages:
            language = base.translations.default
        return base.translations.version(language, base.consent.version)

    def audio_for(self, question: QuestionKind, language: str) -> prompt_audio.PromptAudio | None:
        """The recording of ``question`` a person reading ``language`` hears (theirs, else the
        default language's), as read when the config loaded; None if it has none."""
        path = question.audio_path(language, self.project.locale)
        return None if path is None else self._audio.get(path)

    def decision(self, decision_id: str) -> DecisionSpec | None:
        """The ``[[decisions]]`` entry with this id, if any."""
        return next((d for d in self.decisions if d.id == decision_id), None)

    def checkin(self, checkin_id: str) -> CheckIn | None:
        """The check-in with this id, if any."""
        return next((c for c in self.checkins if c.id == checkin_id), None)

    def checkins_for_stage(self, stage: str) -> list[CheckIn]:
        """Every check-in that belongs to ``stage`` (or to every stage), in file order."""
        return [c for c in self.checkins if not c.stages or stage in c.stages]

    def checkin_for_stage(self, stage: str) -> CheckIn | None:
        """The first check-in that belongs to ``stage`` (or to every stage)."""
        for checkin in self.checkins:
            if not checkin.stages or stage in checkin.stages:
                return checkin
        return None

    def consent_text(self, language: str | None = None) -> str:
        """The consent text with ``{retention}`` ("2 years", in ``language``, by default the
        project's) and ``{retention_days}`` filled in."""
        days = self.storage.retention_days
        return self.consent.text.replace(
            "{retention}", period_words(days, language or self.language)
        ).replace("{retention_days}", str(days))


class _Copies:
    """A configuration's copies in other languages (``Settings.localized``), made once each.

    Held by the settings they were made from (``base``); a copy of the settings (model_copy)
    holds the same object and so makes its own. Never part of what settings compare equal on.
    """

    def __init__(self, base: Settings | None) -> None:
        self.base = base
        self.made: dict[str, Settings] = {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Copies)

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------------------------
# Loading and error reporting.


@dataclass(frozen=True)
class ConfigProblem:
    """A problem located in a file."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        # One line each, whatever the file held: a value quoted in a message may contain a
        # line break or other invisible characters, shown escaped ("\n", "\u2028").
        return "".join(
            char if char.isprintable() else repr(char)[1:-1]
            for char in f"{where}: {self.key}: {self.message}"
        )


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` says every reason."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class _Source:
    """One TOML file and where its keys are."""

    file: Path
    lines: dict[tuple[str | int, ...], int]


@dataclass
class _Located:
    main: _Source
    # For each entry of the combined check-in list: the file and its index there.
    checkin_origin: list[tuple[_Source, int]] = field(default_factory=list)

    def where(self, path: tuple[str | int, ...]) -> tuple[Path, int]:
        if (
            len(path) >= 2
            and path[0] == "checkins"
            and isinstance(path[1], int)
            and path[1] < len(self.checkin_origin)
        ):
            source, local = self.checkin_origin[path[1]]
            return source.file, line_of(source.lines, ("checkins", local, *path[2:]))
        return self.main.file, line_of(self.main.lines, path)


def _read_toml(path: Path, display: str) -> tuple[dict[str, Any], _Source]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(display, 1, "(file)", "file not found; check the path")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(display, 1, "(file)", f"cannot read it: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, advice = syntax_advice(text, exc)
        raise ConfigError([ConfigProblem(display, line, "(syntax)", advice)]) from None
    except RecursionError:
        raise ConfigError(
            [ConfigProblem(display, 1, "(syntax)", "lists or tables are nested too deeply")]
        ) from None
    return data, _Source(Path(display), key_lines(text))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

Where = tuple[str | int, ...]


def _path_text(path: Where) -> str:
    def part_text(part: str | int) -> str:
        if isinstance(part, int):
            return f"[{part}]"
        text = str(part)
        return text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False)

    return ".".join(part_text(part) for part in path).replace(".[", "[")


def _usable_ids(entries: Any) -> dict[int, str]:
    """Position -> id of the entries whose id is a proper id that no other entry has."""
    if not isinstance(entries, list):
        return {}
    ids = [entry.get("id") if isinstance(entry, dict) else None for entry in entries]
    return {
        index: found
        for index, found in enumerate(ids)
        if isinstance(found, str) and _IDENTIFIER.fullmatch(found) and ids.count(found) == 1
    }


def _key_text(path: Where, checkins: list[Any]) -> str:
    """How a problem's key reads: check-ins and questions by their id, other keys dotted.

    ``check-in "weekly", question "week", min`` rather than ``checkins[0].questions[0].min``.
    An entry without a usable id (none, one another entry also has, or not an id at all) goes
    by its number, counted from 1 as people count.
    """
    if len(path) < 2 or path[0] != "checkins" or not isinstance(path[1], int):
        return _path_text(path)
    index = path[1]
    named = _usable_ids(checkins)
    parts = [f'check-in "{named[index]}"' if index in named else f"check-in number {index + 1}"]
    checkin = checkins[index] if 0 <= index < len(checkins) else None
    rest = path[2:]
    if len(rest) >= 2 and rest[0] == "questions" and isinstance(rest[1], int):
        named = _usable_ids(checkin.get("questions") if isinstance(checkin, dict) else None)
        number = rest[1]
        parts.append(
            f'question "{named[number]}"' if number in named else f"question number {number + 1}"
        )
        rest = rest[2:]
    elif len(rest) >= 2 and rest[0] == "schedule" and isinstance(rest[1], int):
        parts.append(f"schedule number {rest[1] + 1}")
        rest = rest[2:]
    if rest:
        parts.append(_path_text(rest))
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# What the settings model expects at a place in the file.


def _types_of(annotation: Any) -> list[Any]:
    """What a value of this annotation may be: Annotated and None dropped, unions spread."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _types_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [kind for arg in get_args(annotation) for kind in _types_of(arg)]
    return [] if annotation is type(None) else [annotation]


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def _kind_names(model: type[BaseModel]) -> tuple[Any, ...]:
    """The ``kind`` a question or schedule model is for ("scale"), or nothing."""
    field = model.model_fields.get("kind")
    return get_args(field.annotation) if field else ()


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _node_at(path: Where, data: Any) -> Any:
    for part in path:
        data = _child(data, part)
    return data


def _models_at(path: Where, data: dict[str, Any]) -> list[type[BaseModel]]:
    """The models the table at ``path`` may be: a question's or schedule's own kind when the
    file names a known one, every kind when it does not."""
    kinds: list[Any] = [Settings]
    node: Any = data
    for part in path:
        found: list[Any] = []
        for kind in kinds:
            origin = get_origin(kind)
            if isinstance(part, int) and origin in (list, tuple):
                found += [
                    t for arg in get_args(kind) if arg is not Ellipsis for t in _types_of(arg)
                ]
            elif isinstance(part, str) and origin is dict:
                found += _types_of(get_args(kind)[1])
            elif isinstance(part, str) and _is_model(kind) and part in kind.model_fields:
                found += _types_of(kind.model_fields[part].annotation)
        node = _child(node, part)
        named = node.get("kind") if isinstance(node, dict) else None
        chosen = [kind for kind in found if _is_model(kind) and named in _kind_names(kind)]
        kinds = chosen or found
    return [kind for kind in kinds if _is_model(kind)]


def _field_at(path: Where, data: dict[str, Any]) -> FieldInfo | None:
    if not path or not isinstance(path[-1], str):
        return None
    for model in _models_at(path[:-1], data):
        if path[-1] in model.model_fields:
            return model.model_fields[path[-1]]
    return None


def _family(model: type[BaseModel]) -> tuple[str, list[type[BaseModel]]] | None:
    """For one kind of question or schedule: "question" or "schedule", and all their kinds."""
    for noun, union in (("question", Question), ("schedule", Schedule)):
        members = [kind for kind in _types_of(union) if _is_model(kind)]
        if model in members:
            return noun, members
    return None


# ---------------------------------------------------------------------------------------------
# Messages.

_UNKNOWN = "is not a setting Everystage knows; check the spelling or remove it"
_NO_CHECKINS = "there are no check-ins; add at least one [[checkins]]"
_SCHEDULE_KINDS = "weekly, after_joining, stage_entry, random_daily"
_TAGS = {*QUESTION_KINDS, *_SCHEDULE_KINDS.split(", ")}

# Values of the wrong type: what they should be, and an example value.
_TYPES = {
    "string_type": ("text in quotes", '"..."'),
    "int_type": ("a whole number", "3"),
    "int_parsing": ("a whole number", "3"),
    "int_from_float": ("a whole number", "3"),
    "float_type": ("a number", "24"),
    "float_parsing": ("a number", "24"),
    "bool_type": ("true or false", "true"),
    "bool_parsing": ("true or false", "true"),
    "list_type": ("a list in square brackets", "[...]"),
    "tuple_type": ("a list in square brackets", "[...]"),
    "path_type": ("a file path in quotes", '"..."'),
    "dict_type": ("a table", "{ ... }"),
    "model_type": ("a table", "{ ... }"),
    "model_attributes_type": ("a table", "{ ... }"),
}
_CONTAINERS = {"list_type", "tuple_type", "dict_type", "model_type", "model_attributes_type"}
# The Python values each kind of value accepts, to tell whether a default is a fit example.
_PYTHON = {"int": int, "float": (int, float), "bool": bool, "string": str, "path": (str, Path)}
# Lists and tables: what each one holds, and an example.
_EXAMPLES = {
    "reminders_after_hours": ("a list of hours", "[24]"),
    "quiet_hours": ("two times of day", '["21:00", "09:00"]'),
    "window": ("two times of day", '["10:00", "18:00"]'),
    "time_zones": ("a list of time zone names", '["Europe/London", "UTC"]'),
    "stages": ("a list of stage names", '["design", "delivery"]'),
    "options": ("a list of options", '["Yes", "No"]'),
    "include": ("a list of file names", '["prompts/*.toml"]'),
    "user_ids": ("a list of Telegram user ids (numbers)", "[111111111]"),
    "peer_researchers": ("a list of Telegram user ids (numbers)", "[333333333]"),
    "days": ("a list of days", '["mon", "thu"]'),
    "any_of": ("a list of answers", "[1, 2]"),
    "schedule": ("a list of schedules", '[{ kind = "weekly", days = ["mon"], time = "10:00" }]'),
    "phrases": ("a table of phrase lists", '{ suicide = ["kill myself", "end it all"] }'),
    "stage_messages": ("a table with a message for each stage", '{ design = "..." }'),
    "show_if": ("a table", '{ question = "week", any_of = [1, 2] }'),
}
# Examples for single values without a default.
_VALUES = {
    "days": "3",
    "chat_id": "-1001234567890",
    "question": '"week"',
    "current_stage": '"design"',
    "time": '"10:00"',
    "files_dir": '"files"',
    "short_name": '"Riverside Pathways"',
}
# What the entries of these lists are, for an entry of the wrong type.
_ENTRIES = {
    "stages": 'each stage is a name in quotes, like "design"',
    "options": 'each option is text in quotes, like "Yes"',
    "include": 'each entry is a file name or pattern in quotes, like "prompts/*.toml"',
    "days": 'each day is a name in quotes, like "mon"',
    "checkins": "each check-in is a [[checkins]] table",
    "questions": "each question is a [[checkins.questions]] table",
    "schedule": 'each schedule is a table in braces, like { kind = "weekly", time = "10:00" }',
    "resources": "each support resource is a [[safeguarding.resources]] table",
}
_TABLE_LISTS = {"checkins", "questions", "schedule", "resources"}
# A model's own check names a key: point at that key rather than at the whole table.
_CHECK_KEYS = (
    *(pair for kind in KINDS.values() for pair in kind.check_keys),
    ("the window", "window"),
    ("is not a time of day", "window"),
    ("is not a day", "days"),
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _example(kind: str, where: Where, data: dict[str, Any]) -> str:
    """An example value for the key at ``where``, of the kind of value the error wants."""
    name = where[-1] if where else ""
    if kind in _CONTAINERS:
        return _EXAMPLES[name][1] if name in _EXAMPLES else _TYPES[kind][1]
    field = _field_at(where, data)
    default = None if field is None else field.get_default(call_default_factory=True)
    python = _PYTHON.get(kind.split("_")[0])
    if (
        python is not None
        and isinstance(default, python)
        and isinstance(default, bool) == (python is bool)
        and default != ""
    ):
        return _toml_value(default)
    if name in _VALUES:
        return _VALUES[name]
    return _TYPES[kind][1] if kind in _TYPES else '"..."'


def _wrong_type(kinds: list[str], where: Where, data: dict[str, Any]) -> str:
    """What the value at ``where`` should be; several kinds when it may be one of several."""
    whats = list(dict.fromkeys(_TYPES[kind][0] for kind in kinds))
    what = " or ".join(whats)
    name = where[-1] if where else ""
    if isinstance(name, int):
        parent = where[-2] if len(where) >= 2 else ""
        if parent in _ENTRIES and (whats == ["a table"]) == (parent in _TABLE_LISTS):
            return _ENTRIES[parent]
        return f"each entry must be {what}"
    if len(where) == 1 and whats == ["a table"]:
        return f"must be a [{name}] table"
    if len(whats) > 1:
        return f"must be {what}"
    if kinds[0] in _CONTAINERS and name in _EXAMPLES:
        what = _EXAMPLES[name][0]
    return f"must be {what}, like {_path_text((name,))} = {_example(kinds[0], where, data)}"


def _unknown_key(where: Where, data: dict[str, Any]) -> str:
    """An unknown key, with the known key it is probably a misspelling of."""
    name = where[-1] if where else ""
    models = _models_at(where[:-1], data)
    if not isinstance(name, str) or not models:
        return _UNKNOWN
    known = sorted({field for model in models for field in model.model_fields})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"is not a setting Everystage knows; did you mean {close[0]}?"
    family = _family(models[0]) if len(models) == 1 else None
    if family:
        noun, members = family
        owners: dict[str, list[str]] = {}
        for member in members:
            for key in member.model_fields:
                if key not in known:
                    owners.setdefault(key, []).extend(map(str, _kind_names(member)))
        close = difflib.get_close_matches(name, sorted(owners), n=1, cutoff=0.6)
        if close:
            this = _kind_names(models[0])[0]
            return (
                f"is not used by a {this} {noun}; {close[0]} is only for "
                f"{' and '.join(owners[close[0]])} {noun}s"
            )
    if len(models) == 1 and len(models[0].model_fields) <= 8:
        fields = [field for field in models[0].model_fields if field != "kind"]
        return f"is not a setting Everystage knows; the settings here are {_listed(fields)}"
    return _UNKNOWN


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else "".join(words)


def _placement(parent: Where, data: dict[str, Any]) -> str:
    """Where a missing key goes, after "add key = value"."""
    if len(parent) == 1 and isinstance(parent[0], str):
        if isinstance(data.get(parent[0]), dict):
            return f" under [{parent[0]}]"
        return f" in a [{parent[0]}] table"
    if len(parent) == 2 and parent[0] == "checkins":
        return " under [[checkins]]"
    if len(parent) == 3 and parent[:2] == ("safeguarding", "resources"):
        return " under [[safeguarding.resources]]"
    if len(parent) >= 2 and parent[-2] == "questions":
        return " under [[checkins.questions]]"
    if len(parent) >= 2 and parent[-2] == "schedule":
        return " inside its { }"
    if parent and parent[-1] == "show_if":
        return " inside show_if = { }"
    return ""


def _missing(where: Where, data: dict[str, Any]) -> str:
    name = where[-1] if where else ""
    if name == "checkins":
        return _NO_CHECKINS
    if name == "questions":
        return "has no questions; add at least one [[checkins.questions]]"
    if where == ("consent", "text"):
        example = '"""..."""'
    else:
        field = _field_at(where, data)
        annotation = _types_of(field.annotation) if field else []
        origin = get_origin(annotation[0]) if annotation else None
        if origin in (list, tuple):
            example = _example("list_type", where, data)
        elif annotation and annotation[0] is int:
            example = _example("int_type", where, data)
        else:
            example = _example("string_type", where, data)
    return f"is missing; add {_path_text((name,))} = {example}{_placement(where[:-1], data)}"


def _kind_not_text(error: dict[str, Any]) -> bool:
    """A question or schedule whose ``kind`` is there but is not a string."""
    given = error.get("input")
    return (
        error["type"] == "union_tag_invalid"
        and isinstance(given, dict)
        and not isinstance(given.get("kind"), str)
    )


def _unknown_kind(tag: str, noun: str, kinds: str) -> str:
    close = difflib.get_close_matches(tag, kinds.split(", "), n=1, cutoff=0.6)
    if close:
        return f"unknown {noun} kind '{tag}'; did you mean {close[0]}? The kinds are {kinds}"
    return f"unknown {noun} kind '{tag}'; use one of {kinds}"


def _friendly(error: dict[str, Any], where: Where, data: dict[str, Any]) -> str:
    kind = error["type"]
    last = where[-1] if where else None
    ctx = error.get("ctx", {})
    if kind == "union_tag_not_found":
        kinds = _SCHEDULE_KINDS if "schedule" in where else ", ".join(QUESTION_KINDS)
        return f"has no kind; add kind = one of {kinds}"
    if kind == "missing":
        return _missing(where, data)
    if kind == "extra_forbidden":
        return _unknown_key(where, data)
    if kind in _TYPES:
        return _wrong_type([kind], where, data)
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag", "?"))
        if "schedule" in where:
            if _kind_not_text(error):
                return 'must be text, like kind = "weekly"'
            return _unknown_kind(tag, "schedule", _SCHEDULE_KINDS)
        if _kind_not_text(error):
            return f'must be text, like kind = "{QUESTION_KINDS[0]}"'
        return _unknown_kind(tag, "question", ", ".join(QUESTION_KINDS))
    if kind == "literal_error" and "expected" in ctx:
        given = error.get("input")
        close = (
            difflib.get_close_matches(given, re.findall(r"'([^']*)'", ctx["expected"]), n=1)
            if isinstance(given, str)
            else []
        )
        return f"must be {ctx['expected']}" + (f"; did you mean '{close[0]}'?" if close else "")
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return (
            "must be lower-case letters, digits, '-' or '_', starting with a letter or digit "
            "(for example 'weekly-checkin')"
        )
    if kind == "too_short" and last == "options":
        return 'is empty; give at least one option, for example options = ["Yes", "No"]'
    if kind == "too_short" and last == "questions":
        return "has no questions; add at least one [[checkins.questions]]"
    if kind == "too_short" and last == "checkins":
        return _NO_CHECKINS
    if kind in ("too_short", "too_long") and last in ("quiet_hours", "window"):
        return f"must be two times of day, like {last} = {_EXAMPLES[last][1]}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "is empty; give at least one"
    if kind == "greater_than" and "peer_researchers" in where:
        return "must be a Telegram user id: a positive number, like 333333333"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds and bounds[kind][1] in ctx:
        return f"must be {bounds[kind][0]} {_toml_value(ctx[bounds[kind][1]])}"
    if kind == "string_too_long" and "max_length" in ctx:
        return f"is too long; write at most {ctx['max_length']} characters"
    if kind == "too_long" and "max_length" in ctx:
        return f"has too many entries; give at most {ctx['max_length']}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"]).lower()


_UNION_MEMBER = re.compile(r"^(str|int|float|bool|[a-z-]+\[.*\])$")


def _clean_loc(loc: tuple[Any, ...], data: Any = None) -> Where:
    """An error's location as a key path into the file's ``data``.

    pydantic's locations also name the union member they tried: the kind of a question or
    schedule (questions[2].choice.options) and, where a value may be text or a number, the type
    (show_if.equals.str). Those are dropped; keys of the data are kept, even a stage called
    "text" or "str". (Values from the environment are not in ``data``: their paths are kept.)
    """
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if part in _TAGS and index > 0 and isinstance(loc[index - 1], int):
            continue  # a discriminator tag, right after the question's or schedule's index
        if isinstance(part, str) and (
            (node is not None and not isinstance(node, dict))
            or (isinstance(node, dict) and part not in node and _UNION_MEMBER.match(part))
        ):
            continue  # a union member's name after the value it did not accept
        path.append(part)
        node = _child(node, part)
    return tuple(path)


def _place(error: dict[str, Any], data: dict[str, Any]) -> Where:
    """Where to report an error: the key it is about, as far as the file shows it."""
    where = _clean_loc(error["loc"], data)
    if error["type"] == "union_tag_invalid":
        return (*where, "kind")  # an unknown kind, or a kind that is not text
    if error["type"] == "value_error" and where and isinstance(where[-1], int):
        node = _node_at(where, data)
        message = str(error.get("msg", ""))
        for words, key in _CHECK_KEYS:
            if words in message and isinstance(node, dict) and key in node:
                return (*where, key)
    return where


def _validation_problems(errors: list[Any], data: dict[str, Any]) -> list[tuple[Where, str]]:
    """Key path and message for each of pydantic's errors.

    A value of the wrong type for a union (text or a number) gives one error per member; they
    become one message. A missing table is reported as its missing keys.
    """
    by_place: dict[Where, list[Any]] = {}
    for error in errors:
        by_place.setdefault(_place(error, data), []).append(error)
    found: list[tuple[Where, str]] = []
    for where, group in by_place.items():
        kinds = [error["type"] for error in group]
        if len(group) > 1 and all(kind in _TYPES for kind in kinds):
            found.append((where, _wrong_type(kinds, where, data)))
            continue
        for error in group:
            field = _field_at(where, data) if error["type"] == "missing" else None
            models = (
                [kind for kind in _types_of(field.annotation) if _is_model(kind)] if field else []
            )
            required = (
                [name for name, f in models[0].model_fields.items() if f.is_required()]
                if len(models) == 1
                else []
            )
            if required:  # a whole table is missing: say which keys it needs
                found += [((*where, name), _missing((*where, name), data)) for name in required]
            else:
                found.append((where, _friendly(error, where, data)))
    return found


# ---------------------------------------------------------------------------------------------
# Numbers and true/false must not be in quotes in the file. The environment only has text, so
# its values are read as numbers where numbers are wanted; the file's values are checked again
# here, strictly.

_STRICT = {"int_type", "float_type", "bool_type"}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _strict_problems(
    data: dict[str, Any], reported: set[Where], from_environment: Any
) -> list[tuple[Where, str]]:
    """Numbers and true/false given as text (or as each other) in the file's ``data``.

    Places already ``reported`` (or below them), and values the environment overrides, are left
    alone.
    """
    found: list[tuple[Where, str]] = []
    for name, info in Settings.model_fields.items():
        if name not in data:
            continue
        adapter = _ADAPTERS.get(name)
        if adapter is None:
            adapter = _ADAPTERS[name] = TypeAdapter(info.annotation)
        try:
            adapter.validate_python(data[name], strict=True)
        except ValidationError as exc:
            by_place: dict[Where, list[Any]] = {}
            for error in exc.errors():
                where = _clean_loc((name, *error["loc"]), data)
                by_place.setdefault(where, []).append(error)
            for where, group in by_place.items():
                if not any(error["type"] in _STRICT for error in group):
                    continue
                if any(place[: len(where)] == where for place in reported):
                    continue
                if from_environment(where):
                    continue
                kinds = [error["type"] for error in group if error["type"] in _TYPES]
                found.append((where, _not_strict(kinds, where, data, group[0]["input"])))
    return found


def _not_strict(kinds: list[str], where: Where, data: dict[str, Any], given: Any) -> str:
    whats = {_TYPES[kind][0] for kind in kinds}
    if len(whats) != 1 or not isinstance(given, str):
        return _wrong_type(kinds, where, data)
    kind = kinds[0]
    wanted = {"int_type": int, "float_type": float, "bool_type": bool}.get(kind)
    try:
        value = _toml_value(TypeAdapter(wanted).validate_python(given))
    except ValidationError:
        return _wrong_type(kinds, where, data)
    what = _TYPES[kind][0]
    name = where[-1] if where else ""
    if isinstance(name, int):
        return f"each entry must be {what} without quotes, like {value}"
    return f"must be {what} without quotes, like {_path_text((name,))} = {value}"


# ---------------------------------------------------------------------------------------------
# Safeguarding: phrases without anywhere to send people.

_NO_RESOURCES = (
    "none are listed, so a person whose message matches a safeguarding phrase would be "
    "offered no helpline; add at least one under [safeguarding], like [[safeguarding.resources]] "
    'with name = "Samaritans", contact = "116 123" and hours = "24/7"'
)


def _without_resources(phrases: Any, resources: Any) -> bool:
    """Phrases to screen for, and no support resource to offer."""
    screening = isinstance(phrases, dict) and any(
        isinstance(words, list) and words for words in phrases.values()
    )
    return screening and isinstance(resources, list) and not resources


def _env_name(path: tuple[str | int, ...], shortest: int = 2) -> str | None:
    """The environment variable that set the value at ``path``, or the list or table holding it."""
    for end in range(len(path), shortest - 1, -1):
        keys = path[:end]
        if all(isinstance(key, str) for key in keys):
            name = ENV_PREFIX + "__".join(str(key).upper() for key in keys)
            if name in os.environ:
                return name
    return None


def load_settings(
    config: str | os.PathLike[str] | None = None,
    *,
    warnings: list[ConfigProblem] | None = None,
    untranslated_ok: bool = False,
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError listing every problem.

    Given a ``warnings`` list, adds to it what a valid configuration could do better (for
    check-config): its participants' texts that read hard. ``untranslated_ok``: texts missing
    in a language are not a problem (for ``everystage translations``, which fills them in).
    """
    raw_path = config or os.environ.get(CONFIG_ENV)
    if not raw_path:
        raise ConfigError(
            [ConfigProblem("(no file)", 0, "--config", f"give --config FILE or set {CONFIG_ENV}")]
        )
    path = Path(raw_path)
    data, main = _read_toml(path, str(raw_path))
    located = _Located(main)
    problems: list[ConfigProblem] = []

    def report(path_: Where, message: str, at: Where | None = None) -> None:
        """A problem with the key at ``path_``, on the line of ``at`` (by default the key's)."""
        file, line = located.where(path_ if at is None else at)
        checkins = data.get("checkins")
        key = _key_text(path_, checkins if isinstance(checkins, list) else [])
        env = _env_name(path_)
        if env:
            problems.append(ConfigProblem(f"environment {env}", 0, key, message))
        else:
            problems.append(ConfigProblem(str(file), line, key, message))

    telegram = data.get("telegram")
    if isinstance(telegram, dict) and "token" in telegram:
        report(
            ("telegram", "token"),
            "the bot token must not be written in a file; delete this line and set "
            f"{TOKEN_ENV} in the environment instead",
        )
        telegram = {k: v for k, v in telegram.items() if k != "token"}
        data["telegram"] = telegram
    if isinstance(telegram, dict) and "webhook_secret" in telegram:
        report(
            ("telegram", "webhook_secret"),
            "the webhook secret must not be written in a file; delete this line and set "
            f"{WEBHOOK_SECRET_ENV} in the environment instead",
        )
        telegram = {k: v for k, v in telegram.items() if k != "webhook_secret"}
        data["telegram"] = telegram

    problems.extend(_storage_secrets(data, located))

    for key in [key for key in data if key not in Settings.model_fields]:
        # Reported here and left out: pydantic-settings would take a key like _env_file or
        # _secrets_dir as an option of its own instead of a setting.
        report((key,), _unknown_key((key,), data))
        del data[key]

    checkins = data.get("checkins", [])
    if not isinstance(checkins, list):
        report(("checkins",), "must be a list of [[checkins]] tables")
        checkins = []
    located.checkin_origin = [(main, i) for i in range(len(checkins))]
    checkins = list(checkins)
    prompts = data.get("prompts", {})
    includes = prompts.get("include", []) if isinstance(prompts, dict) else []
    included = {os.path.realpath(path)}  # each file once, and never the config itself
    for pattern in includes if isinstance(includes, list) else []:
        if not isinstance(pattern, str):
            continue  # validation reports it as not a file name
        try:
            matches = sorted(glob.glob(str(path.parent / pattern)))
        except (OSError, ValueError):  # ValueError: a NUL character
            matches = []
        files = [match for match in matches if not os.path.isdir(match)]
        if not matches:
            report(("prompts", "include"), f"'{pattern}' matches no file next to {path}")
        elif not files:
            report(
                ("prompts", "include"),
                f"'{pattern}' matches only folders; for the files in a folder write "
                f"'{Path(pattern) / '*.toml'}'",
            )
        for match in files:
            if os.path.realpath(match) in included:
                continue
            included.add(os.path.realpath(match))
            try:
                extra, source = _read_toml(Path(match), match)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            extra_checkins = extra.get("checkins", [])
            if not isinstance(extra_checkins, list):
                problems.append(
                    ConfigProblem(
                        match,
                        line_of(source.lines, ("checkins",)),
                        "checkins",
                        "must be a list of [[checkins]] tables",
                    )
                )
                extra_checkins = []
            for key in extra:
                if key != "checkins":
                    problems.append(
                        ConfigProblem(
                            match,
                            line_of(source.lines, (key,)),
                            _path_text((key,)),
                            "a prompts file may only hold [[checkins]]; move this to the "
                            "main config",
                        )
                    )
            for local, checkin in enumerate(extra_checkins):
                located.checkin_origin.append((source, local))
                checkins.append(checkin)
    data["checkins"] = checkins

    # Texts given per language: the default language's stays for the model to check.
    translations, found = extract(data, untranslated_ok=untranslated_ok)
    for where, message, at in found:
        report(where, message, at)
    texts = {at: given for at, given in translations.texts.items() if not _env_name(at)}
    translations = replace(
        translations,
        texts=texts,  # a text set from the environment is in one language
        checkin_files=tuple((str(source.file), local) for source, local in located.checkin_origin),
        config_file=str(path),
    )

    project = data.get("project", {})
    stages = DEFAULT_STAGES
    if isinstance(project, dict):
        for problem in check_stages(project):
            report(problem.path, problem.message)
        if isinstance(project.get("stages"), list):
            stages = [s for s in project["stages"] if isinstance(s, str)]
    for problem in check_checkins(checkins, stages):
        report(problem.path, problem.message)
    for problem in check_decisions(data.get("decisions"), checkins):
        report(problem.path, problem.message)
    # Questions' audio files: each read, decoded and made absolute (the slow part of a load
    # with recordings; every caller in the event loop loads in a thread).
    audio = prompt_audio.load(
        data,
        lambda index: located.checkin_origin[index][0].file.parent,
        translations.languages,
    )
    for where, message in audio.problems:
        report(where, message)

    settings: Settings | None = None
    reported: set[Where] = set()
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        for where, message in _validation_problems(exc.errors(), data):
            reported.add(where)
            report(where, message)
    except SettingsError as exc:  # a list or table in the environment that is not JSON
        found = re.search(r'field "([^"]+)"', str(exc))
        key = found.group(1) if found else ""
        base = ENV_PREFIX + key.upper()
        names = [name for name in sorted(os.environ) if re.match(rf"{base}(__|$)", name)]
        problems.append(
            ConfigProblem(
                f"environment {', '.join(names) or base}",
                0,
                key or "(environment)",
                'cannot be read; write a list or table as JSON, like ["a", "b"] or {"a": 1}',
            )
        )

    for where, message in _strict_problems(data, reported, lambda at: _env_name(at, 1)):
        report(where, message)

    if settings is not None:
        for where, message in _translation_problems(data, translations):
            report(where, message)
        settings._translations = translations
        settings._audio = audio.files

    guard = data.get("safeguarding", {})
    if settings is not None:
        guard = settings.safeguarding.model_dump()
    elif _env_name(("safeguarding", "resources"), 1) or _env_name(("safeguarding", "phrases"), 1):
        guard = None  # what the environment says is only known once everything is valid
    if isinstance(guard, dict) and _without_resources(
        guard.get("phrases", DEFAULT_PHRASES), guard.get("resources", [])
    ):
        in_file = data.get("safeguarding")
        at: Where = ("safeguarding",)
        if isinstance(in_file, dict) and "phrases" in in_file:
            at = ("safeguarding", "phrases")
        report(("safeguarding", "resources"), _NO_RESOURCES, at)

    for where, message in _two_roles(settings, data):
        report(where, message)

    if problems:
        raise ConfigError(_dedupe(problems))
    assert settings is not None
    if warnings is not None:
        warnings.extend(_hard_to_read(data, located))
        for where, message in audio.warnings:
            file, line = located.where(where)
            key = _key_text(where, data["checkins"])
            warnings.append(ConfigProblem(str(file), line, key, message))
    return _resolve_paths(settings, path.parent.absolute())


def _translation_problems(
    data: dict[str, Any], translations: Translations
) -> list[tuple[Where, str]]:
    """Each language's texts checked as the model checks the default's (lengths, empty texts),
    each problem at the language's own entry: ``text.pl``."""
    found: list[tuple[Where, str]] = []
    for language in translations.languages[1:]:
        given = translations.given(language)
        if not given:
            continue
        try:
            Settings(**in_language(data, translations, language))
        except (ValidationError, SettingsError) as exc:
            errors = exc.errors() if isinstance(exc, ValidationError) else []
            for where, message in _validation_problems(errors, data):
                text = next((at for at in given if where[: len(at)] == at), None)
                if text is not None:
                    found.append(((*text, language, *where[len(text) :]), message))
    return found


def _hard_to_read(data: dict[str, Any], located: _Located) -> list[ConfigProblem]:
    """The config's own participant texts scoring below WARN_BELOW (bot/readability.py)."""
    from bot import readability  # late: only check-config scores texts

    checkins = data.get("checkins")
    found = []
    for where, text in readability.participant_config_texts(data):
        score = readability.score(text)
        if score is None or score >= readability.WARN_BELOW:
            continue
        file, line = located.where(where)
        key = _key_text(where, checkins if isinstance(checkins, list) else [])
        message = f"reads hard (Flesch {score:.0f}): shorter sentences help"
        found.append(ConfigProblem(str(file), line, key, message))
    return found


def _two_roles(settings: Settings | None, data: dict[str, Any]) -> list[tuple[Where, str]]:
    """A peer researcher also listed as a coordinator: each person has one role.

    From the settings when they are valid; otherwise from the file, as far as it holds ids.
    """
    if settings is not None:
        coordinators: Any = settings.coordinators.user_ids
        peers: Any = settings.team.peer_researchers
    else:
        coordinators = _child(data.get("coordinators"), "user_ids")
        peers = _child(data.get("team"), "peer_researchers")
    if not isinstance(coordinators, list) or not isinstance(peers, list):
        return []
    listed = {user_id for user_id in coordinators if type(user_id) is int}
    return [
        (
            ("team", "peer_researchers", index),
            "is also in coordinators.user_ids; a person has one role: keep them in one list",
        )
        for index, user_id in enumerate(peers)
        if type(user_id) is int and user_id in listed
    ]


def _storage_secrets(data: dict[str, Any], located: _Located) -> list[ConfigProblem]:
    """The database password written in the file (as ``storage.password`` or inside
    ``storage.url``): a problem at its line, and left out so the rest can be checked."""
    from storage.db import has_password, redacted

    storage = data.get("storage")
    if not isinstance(storage, dict):
        return []
    found = []
    instead = (
        f"set {STORAGE_PASSWORD_ENV} (or libpq's PGPASSWORD or PGPASSFILE) in the environment"
        " instead"
    )
    if "password" in storage:
        file, line = located.where(("storage", "password"))
        found.append(
            ConfigProblem(
                str(file),
                line,
                "storage.password",
                f"the database password must not be written in a file; delete this line and"
                f" {instead}",
            )
        )
        storage = {k: v for k, v in storage.items() if k != "password"}
    url = storage.get("url")
    if isinstance(url, str) and has_password(url):
        file, line = located.where(("storage", "url"))
        found.append(
            ConfigProblem(
                str(file),
                line,
                "storage.url",
                f"must not hold the password; write it as {redacted(url)} and {instead}",
            )
        )
        storage = {**storage, "url": redacted(url)}
    data["storage"] = storage
    return found


def _dedupe(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.file, problem.key, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return sorted(unique, key=lambda p: (p.file, p.line))


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative storage paths are relative to the config file, not the current directory."""
    storage = settings.storage
    updates: dict[str, Any] = {}
    if not storage.path.is_absolute():
        updates["path"] = base / storage.path
    if storage.files_dir is not None and not storage.files_dir.is_absolute():
        updates["files_dir"] = base / storage.files_dir
    voice = settings.voice
    if voice.model_path is not None and not voice.model_path.is_absolute():
        voice = voice.model_copy(update={"model_path": base / voice.model_path})
    if not updates and voice is settings.voice:
        return settings
    return settings.model_copy(
        update={"storage": storage.model_copy(update=updates), "voice": voice}
    )


__all__ = ["ConfigError", "ConfigProblem", "Problem", "Settings", "load_settings"]
