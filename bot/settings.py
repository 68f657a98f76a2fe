"""Settings: one TOML file, overridable key by key from the environment.

``load_settings(path)`` reads the file (and the prompt files it includes), applies
``EVERYSTAGE_<SECTION>__<KEY>`` environment overrides, and validates everything. Every problem
is collected and raised together as a :class:`ConfigError` whose lines read
``FILE:LINE: key.path: what is wrong and how to fix it``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot.texts import available
from bot.toml_lines import key_lines, line_of
from conversations.checks import Problem, check_checkins, check_stages
from conversations.model import QUESTION_KINDS, CheckIn
from conversations.schedule import QuietHours, parse_clock

ENV_PREFIX = "EVERYSTAGE_"
CONFIG_ENV = "EVERYSTAGE_CONFIG"
TOKEN_ENV = "EVERYSTAGE_TELEGRAM__TOKEN"
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
    # Voice notes (and any file) larger than this are refused before download. Telegram lets
    # bots download at most 20 MB, so that is also the most this can be.
    max_file_mb: float = Field(default=20, gt=0, le=20)

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
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(match.group(1)) if match else 1
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            [ConfigProblem(display, line, "(syntax)", f"not valid TOML: {reason}")]
        ) from None
    except RecursionError:
        raise ConfigError(
            [ConfigProblem(display, 1, "(syntax)", "lists or tables are nested too deeply")]
        ) from None
    return data, _Source(Path(display), key_lines(text))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _path_text(path: tuple[str | int, ...]) -> str:
    def part_text(part: str | int) -> str:
        if isinstance(part, int):
            return f"[{part}]"
        text = str(part)
        return text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False)

    return ".".join(part_text(part) for part in path).replace(".[", "[")


_FRIENDLY = {
    "missing": "is missing; add it",
    "extra_forbidden": "is not a setting Everystage knows; check the spelling or remove it",
    "union_tag_not_found": f"has no kind; add kind = one of {', '.join(QUESTION_KINDS)}",
}
_SCHEDULE_KINDS = "weekly, after_joining, stage_entry, random_daily"
_TAGS = {*QUESTION_KINDS, *_SCHEDULE_KINDS.split(", ")}

# Values of the wrong type: what they should be, and an example after "like key".
_TYPES = {
    "string_type": ("text in quotes", ' = "..."'),
    "int_type": ("a whole number", " = 3"),
    "int_parsing": ("a whole number", " = 3"),
    "int_from_float": ("a whole number", " = 3"),
    "float_type": ("a number", " = 24"),
    "float_parsing": ("a number", " = 24"),
    "bool_type": ("true or false", " = true"),
    "bool_parsing": ("true or false", " = true"),
    "list_type": ("a list in square brackets", " = [...]"),
    "tuple_type": ("a list in square brackets", " = [...]"),
    "path_type": ("a file path in quotes", ' = "..."'),
    "dict_type": ("a table", " = { ... }"),
    "model_type": ("a table", " = { ... }"),
    "model_attributes_type": ("a table", " = { ... }"),
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


def _kind_not_text(error: dict[str, Any]) -> bool:
    """A question or schedule whose ``kind`` is there but is not a string."""
    given = error.get("input")
    return (
        error["type"] == "union_tag_invalid"
        and isinstance(given, dict)
        and not isinstance(given.get("kind"), str)
    )


def _wrong_type(kinds: list[str], where: tuple[str | int, ...]) -> str:
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
    return (
        f"must be {what}, like {_path_text((name,))}{_TYPES[kinds[0]][1]}"
        if len(whats) == 1
        else f"must be {what}"
    )


def _friendly(error: dict[str, Any], where: tuple[str | int, ...]) -> str:
    kind = error["type"]
    last = where[-1] if where else None
    if kind == "union_tag_not_found" and "schedule" in where:
        return f"has no kind; add kind = one of {_SCHEDULE_KINDS}"
    if kind in _FRIENDLY:
        return _FRIENDLY[kind]
    if kind in _TYPES:
        return _wrong_type([kind], where)
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "?")
        if "schedule" in where:
            if _kind_not_text(error):
                return 'must be text, like kind = "weekly"'
            return f"unknown schedule kind '{tag}'; use one of {_SCHEDULE_KINDS}"
        if _kind_not_text(error):
            return 'must be text, like kind = "choice"'
        return f"unknown question kind '{tag}'; use one of {', '.join(QUESTION_KINDS)}"
    if kind == "literal_error" and "expected" in error.get("ctx", {}):
        return f"must be {error['ctx']['expected']}"
    if kind == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
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
        return "there are no check-ins; add at least one [[checkins]]"
    if kind in ("too_short", "too_long") and last in ("quiet_hours", "window"):
        return 'must be two times of day, like ["21:00", "09:00"]'
    if kind == "too_short" and error.get("ctx", {}).get("min_length") == 1:
        return "is empty; give at least one"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"]).lower()


_UNION_MEMBER = re.compile(r"^(str|int|float|bool|[a-z-]+\[.*\])$")


def _clean_loc(loc: tuple[Any, ...], data: Any = None) -> tuple[str | int, ...]:
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
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _validation_problems(
    errors: list[Any], data: dict[str, Any]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Key path and message for each of pydantic's errors.

    A value of the wrong type for a union (text or a number) gives one error per member; they
    become one message.
    """
    by_place: dict[tuple[str | int, ...], list[Any]] = {}
    for error in errors:
        where = _clean_loc(error["loc"], data)
        by_place.setdefault((*where, "kind") if _kind_not_text(error) else where, []).append(error)
    found = []
    for where, group in by_place.items():
        kinds = [error["type"] for error in group]
        if len(group) > 1 and all(kind in _TYPES for kind in kinds):
            found.append((where, _wrong_type(kinds, where)))
        else:
            found += [(where, _friendly(error, where)) for error in group]
    return found


def _env_name(path: tuple[str | int, ...]) -> str | None:
    """The environment variable that set the value at ``path``, or the list or table holding it."""
    for end in range(len(path), 1, -1):
        keys = path[:end]
        if all(isinstance(key, str) for key in keys):
            name = ENV_PREFIX + "__".join(str(key).upper() for key in keys)
            if name in os.environ:
                return name
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

    for key in [key for key in data if key not in Settings.model_fields]:
        # Reported here and left out: pydantic-settings would take a key like _env_file or
        # _secrets_dir as an option of its own instead of a setting.
        report((key,), _FRIENDLY["extra_forbidden"])
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
        for where, message in _validation_problems(exc.errors(), data):
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
