"""Participant-facing text from ``bot/locales/<locale>.toml``."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, get_timezone_location
from babel.lists import format_list
from babel.units import format_unit

LOCALES = Path(__file__).with_name("locales")


BASE = "en"  # the language every other locale file is translated from


class Texts:
    """Looks up ``section.key`` strings and fills in ``{placeholders}``."""

    def __init__(self, strings: dict[str, dict[str, str]]):
        self._strings = strings
        self.missing: set[str] = set()  # keys read in English: not translated yet
        self.locale = BASE  # which language these are (set by :meth:`load`)

    @classmethod
    def load(cls, locale: str = "en") -> Texts:
        """Read one locale file; unknown locales are an error naming the file looked for.

        A key the file does not have yet reads as in English (:data:`BASE`), so a translation
        can be shipped before it is complete; ``missing`` says which keys those are.
        """
        path = LOCALES / f"{locale}.toml"
        if not path.exists():
            raise FileNotFoundError(f"no locale file {path}; available: {available()}")
        with path.open("rb") as handle:
            strings = tomllib.load(handle)
        texts = cls(strings)
        if locale != BASE:
            base = cls.load(BASE)._strings
            merged = {s: {**names, **strings.get(s, {})} for s, names in base.items()}
            texts = cls(merged)
            texts.missing = {
                f"{s}.{k}"
                for s, names in base.items()
                for k in names
                if k not in strings.get(s, {})
            }
        texts.locale = locale
        return texts

    def listing(self, items: list[str]) -> str:
        """``["a", "b", "c"]`` as this language writes a list: "a, b and c"."""
        return format_list(items, locale=_babel_locale(self.locale))

    def day_and_time(self, local: datetime) -> str:
        """A local moment as this language says it: "Thu 3 Dec at 18:00", "czw., 3 gru, 18:00"."""
        where = _babel_locale(self.locale)
        return self(
            "time.day_and_time",
            day=format_skeleton("MMMEd", local, locale=where),
            time=format_skeleton("Hm", local, locale=where),
        )

    def time_of_day(self, local: datetime, today: bool) -> str:
        """ "18:00" today, else with the weekday: "Thu 18:00"."""
        where = _babel_locale(self.locale)
        time = format_skeleton("Hm", local, locale=where)
        if today:
            return time
        return self(
            "time.weekday_and_time", day=format_skeleton("E", local, locale=where), time=time
        )

    def __call__(self, key: str, **values: object) -> str:
        section, name = key.split(".", 1)
        template = self._strings[section][name]
        return template.format(**values) if values else template

    def keys(self) -> set[str]:
        """Every ``section.key`` defined."""
        return {f"{s}.{k}" for s, names in self._strings.items() for k in names}


def available() -> list[str]:
    """Locale names there are files for."""
    return sorted(p.stem for p in LOCALES.glob("*.toml"))


# ---------------------------------------------------------------------------------------------
# Words for numbers, places and long questions (Babel does the plurals and place names).

_MONTHS_FROM = 6  # shorter periods stay in days: "90 days", not "3 months"


# Plain "en" is Babel's American English; the people Everystage serves write dates the British
# way ("Thu 3 Dec"), so English forms come from en_GB unless a locale names its own country.
_COUNTRY = {"en": "en_GB"}


def _babel_locale(locale: str) -> Locale:
    try:
        return Locale.parse(_COUNTRY.get(locale, locale.replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(_COUNTRY["en"])


def period_words(days: int, locale: str = "en") -> str:
    """How long we keep things, in words: 730 -> "2 years", 180 -> "6 months", 90 -> "90 days".

    Years when the days are whole years of 365 days; months when they are whole months of 30
    days and at least six of them; days otherwise. So the words never say less than we keep:
    N years are at least N x 365 days, and six or more calendar months are at least N x 30
    days (shorter runs of months can be less, which is why they stay in days).
    """
    if days >= 365 and days % 365 == 0:
        value, unit = days // 365, "duration-year"
    elif days >= 30 * _MONTHS_FROM and days % 30 == 0:
        value, unit = days // 30, "duration-month"
    else:
        value, unit = days, "duration-day"
    return str(format_unit(value, unit, length="long", locale=_babel_locale(locale)))


def money(amount: Decimal | str, currency: str, locale: str = "en") -> str:
    """An amount as people write it: 20 GBP -> "£20.00", 1200 JPY -> "¥1,200"."""
    from babel.numbers import format_currency

    return str(format_currency(Decimal(amount), currency, locale=_babel_locale(locale)))


def years_words(years: int, locale: str = "en") -> str:
    """A number of years in words: 6 -> "6 years"."""
    return str(format_unit(years, "duration-year", length="long", locale=_babel_locale(locale)))


def place_of(zone: str, locale: str = "en") -> str:
    """A time zone as the place people know it by: "Europe/London" -> "London", "UTC"."""
    try:
        place = get_timezone_location(zone, locale=_babel_locale(locale), return_city=True)
    except LookupError:
        place = None
    return str(place) if place else zone.rsplit("/", 1)[-1].replace("_", " ")


_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def short_question(text: str, limit: int = 60) -> str:
    """A question short enough for a list: the whole text if it fits, else its question.

    "Sorry it has been a hard week. What made it hard? You can type…" -> "What made it hard?";
    failing that its first sentence, or the text cut at a word with "…".
    """
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences = [s for s in _SENTENCE_END.split(text) if s]
    for sentence in sentences:
        if sentence.endswith("?") and len(sentence) <= limit:
            return sentence
    if sentences and len(sentences[0]) <= limit:
        return sentences[0]
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return f"{cut or text[: limit - 1]}…"


# About a phone screen of text (bot/readability.py checks every message against it).
SCREEN = 500


def screens(text: str, limit: int = SCREEN) -> list[str]:
    """A long message as parts of at most ``limit`` characters, cut only between paragraphs
    (a blank line), each part as many whole paragraphs as fit. A paragraph longer than
    ``limit`` is a part of its own: it is never cut mid-sentence."""
    parts: list[str] = []
    for paragraph in (p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.strip())):
        if not paragraph.strip():
            continue
        if parts and len(parts[-1]) + 2 + len(paragraph) <= limit:
            parts[-1] += "\n\n" + paragraph
        else:
            parts.append(paragraph)
    return parts
