"""Participant-facing text from ``bot/locales/<locale>.toml``."""

from __future__ import annotations

import tomllib
from pathlib import Path

LOCALES = Path(__file__).with_name("locales")


class Texts:
    """Looks up ``section.key`` strings and fills in ``{placeholders}``."""

    def __init__(self, strings: dict[str, dict[str, str]]):
        self._strings = strings

    @classmethod
    def load(cls, locale: str = "en") -> Texts:
        """Read one locale file; unknown locales are an error naming the file looked for."""
        path = LOCALES / f"{locale}.toml"
        if not path.exists():
            raise FileNotFoundError(f"no locale file {path}; available: {available()}")
        with path.open("rb") as handle:
            return cls(tomllib.load(handle))

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
