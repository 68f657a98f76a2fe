"""Settings: one TOML file, overridable key by key from the environment.

``load_settings(path)`` reads the file (and the prompt files it includes), applies
``EVERYSTAGE_<SECTION>__<KEY>`` environment overrides, and validates everything. Every problem
is collected and raised together as a :class:`ConfigError` whose lines read
``FILE:LINE: key.path: what is wrong and how to fix it``.
"""

from __future__ import annotations

import glob
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.toml_lines import key_lines, line_of
from conversations.checks import Problem, check_checkins, check_stages
from conversations.model import QUESTION_KINDS, CheckIn
from conversations.schedule import QuietHours, parse_clock

ENV_PREFIX = "EVERYSTAGE_"
CONFIG_ENV = "EVERYSTAGE_CONFIG"
TOKEN_ENV = "EVERYSTAGE_TELEGRAM__TOKEN"
PUBLIC_BOT_API = "https://api.telegram.org"
DEFAULT_STAGES = ["design", "delivery", "commissioning", "evaluation"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectSettings(_Section):
    """The project: its name, time zone and stages."""

    name: str = Field(min_length=1, max_length=120)
    timezone: str = "Europe/London"
    stages: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGES))
    current_stage: str | None = None
    locale: str = "en"
    # What each stage means for participants, sent to everyone when the project enters it.
    stage_messages: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"'{value}' is not a time zone name; use one like 'Europe/London'"
            ) from None
        return value

    @property
    def stage(self) -> str:
        """The stage the project is in now."""
        return self.current_stage or self.stages[0]


class TelegramSettings(_Section):
    """How to reach the Bot API."""

    token: SecretStr | None = None
    api_base_url: str = PUBLIC_BOT_API
    rate_limit: bool = True
    poll_timeout: float = Field(default=10, ge=0, le=50)
    concurrent_updates: int = Field(default=64, ge=1, le=1024)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"'{value}' is not an http(s) address like {PUBLIC_BOT_API}")
        return value.rstrip("/")

    @property
    def base_url(self) -> str:
        """What python-telegram-bot calls ``base_url``."""
        return f"{self.api_base_url}/bot"

    @property
    def base_file_url(self) -> str:
        """What python-telegram-bot calls ``base_file_url``."""
        return f"{self.api_base_url}/file/bot"


class StorageSettings(_Section):
    """Where data is kept, and for how long."""

    path: Path = Path("everystage.db")
    files_dir: Path | None = None
    retention_days: int = Field(default=730, ge=1, le=3650)

    @property
    def files_path(self) -> Path:
        """Folder for voice notes: ``files_dir``, or ``files/`` beside the database."""
        return self.files_dir or self.path.parent / "files"


class ConsentSettings(_Section):
    """The consent text people agree to; bump ``version`` when it changes."""

    version: int = Field(default=1, ge=1)
    text: str = Field(min_length=1, max_length=3500)
    more: str = Field(default="", max_length=3500)


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
                parse_clock(part)
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
        parse_clock(value)
        return value


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
    safeguarding: SafeguardingSettings = Field(default_factory=SafeguardingSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    checkins: list[CheckIn] = Field(min_length=1)

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

    def consent_text(self) -> str:
        """The consent text with ``{retention_days}`` filled in."""
        return self.consent.text.replace("{retention_days}", str(self.storage.retention_days))


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
        return f"{where}: {self.key}: {self.message}"


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
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(match.group(1)) if match else 1
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            [ConfigProblem(display, line, "(syntax)", f"not valid TOML: {reason}")]
        ) from None
    return data, _Source(Path(display), key_lines(text))


def _path_text(path: tuple[str | int, ...]) -> str:
    return ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in path).replace(
        ".[", "["
    )


_FRIENDLY = {
    "missing": "is missing; add it",
    "extra_forbidden": "is not a setting Everystage knows; check the spelling or remove it",
    "union_tag_not_found": f"has no kind; add kind = one of {', '.join(QUESTION_KINDS)}",
}


def _friendly(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind in _FRIENDLY:
        return _FRIENDLY[kind]
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "?")
        if "schedule" in error["loc"]:
            kinds = "weekly, after_joining, stage_entry, random_daily"
            return f"unknown schedule kind '{tag}'; use one of {kinds}"
        return f"unknown question kind '{tag}'; use one of {', '.join(QUESTION_KINDS)}"
    if kind == "string_pattern_mismatch":
        return (
            "must be lower-case letters, digits, '-' or '_', starting with a letter or digit "
            "(for example 'weekly-checkin')"
        )
    if kind == "too_short" and error["loc"] and error["loc"][-1] == "options":
        return 'is empty; give at least one option, for example options = ["Yes", "No"]'
    if kind == "too_short" and error["loc"] and error["loc"][-1] == "questions":
        return "has no questions; add at least one [[checkins.questions]]"
    if kind == "too_short" and error["loc"] and error["loc"][-1] == "checkins":
        return "there are no check-ins; add at least one [[checkins]]"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"]).lower()


_TAGS = {*QUESTION_KINDS, "weekly", "after_joining", "stage_entry", "random_daily"}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the discriminator tags pydantic puts in a union's error location."""
    return tuple(part for part in loc if part not in _TAGS)


def _env_name(path: tuple[str | int, ...]) -> str | None:
    if len(path) >= 2 and all(isinstance(p, str) for p in path):
        name = ENV_PREFIX + "__".join(str(p).upper() for p in path)
        return name if name in os.environ else None
    return None


def load_settings(config: str | os.PathLike[str] | None = None) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError listing every problem."""
    raw_path = config or os.environ.get(CONFIG_ENV)
    if not raw_path:
        raise ConfigError(
            [ConfigProblem("(no file)", 0, "--config", f"give --config FILE or set {CONFIG_ENV}")]
        )
    path = Path(raw_path)
    data, main = _read_toml(path, str(raw_path))
    located = _Located(main)
    problems: list[ConfigProblem] = []

    def report(path_: tuple[str | int, ...], message: str) -> None:
        file, line = located.where(path_)
        env = _env_name(path_)
        if env:
            problems.append(ConfigProblem(f"environment {env}", 0, _path_text(path_), message))
        else:
            problems.append(ConfigProblem(str(file), line, _path_text(path_), message))

    telegram = data.get("telegram")
    if isinstance(telegram, dict) and "token" in telegram:
        report(
            ("telegram", "token"),
            "the bot token must not be written in a file; delete this line and set "
            f"{TOKEN_ENV} in the environment instead",
        )
        telegram = {k: v for k, v in telegram.items() if k != "token"}
        data["telegram"] = telegram

    checkins = data.get("checkins", [])
    if not isinstance(checkins, list):
        report(("checkins",), "must be a list of [[checkins]] tables")
        checkins = []
    located.checkin_origin = [(main, i) for i in range(len(checkins))]
    checkins = list(checkins)
    prompts = data.get("prompts", {})
    includes = prompts.get("include", []) if isinstance(prompts, dict) else []
    for pattern in includes if isinstance(includes, list) else []:
        matches = sorted(glob.glob(str(path.parent / pattern)))
        if not matches:
            report(("prompts", "include"), f"'{pattern}' matches no file next to {path}")
        for match in matches:
            try:
                extra, source = _read_toml(Path(match), match)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            extra_checkins = extra.get("checkins", [])
            for key in extra:
                if key != "checkins":
                    problems.append(
                        ConfigProblem(
                            match,
                            line_of(source.lines, (key,)),
                            key,
                            "a prompts file may only hold [[checkins]]; move this to the "
                            "main config",
                        )
                    )
            for local, checkin in enumerate(extra_checkins):
                located.checkin_origin.append((source, local))
                checkins.append(checkin)
    data["checkins"] = checkins

    project = data.get("project", {})
    stages = DEFAULT_STAGES
    if isinstance(project, dict):
        for problem in check_stages(project):
            report(problem.path, problem.message)
        if isinstance(project.get("stages"), list):
            stages = [s for s in project["stages"] if isinstance(s, str)]
    for problem in check_checkins(checkins, stages):
        report(problem.path, problem.message)

    settings: Settings | None = None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        for error in exc.errors():
            report(_clean_loc(error["loc"]), _friendly(error))

    if problems:
        raise ConfigError(_dedupe(problems))
    assert settings is not None
    return _resolve_paths(settings, path.parent.absolute())


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
    if not updates:
        return settings
    return settings.model_copy(update={"storage": storage.model_copy(update=updates)})


__all__ = ["ConfigError", "ConfigProblem", "Problem", "Settings", "load_settings"]
