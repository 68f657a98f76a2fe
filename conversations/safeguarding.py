"""Safeguarding phrases: does a message suggest someone may be at risk?

Pure: no Telegram, no SQL, no clock. Phrases are plain English, matched as whole words on
*normalised* text: case-folded, accents stripped ("SUICÍDE" is "suicide"), every kind of
apostrophe, quote, hyphen and other punctuation turned into a space, whitespace collapsed. So
"self-harm" matches "self harm", "don’t want to be here" matches "don't want to be here", and
"kill myself" does not match "skill myself". A ``*`` at the end of a word matches any ending
("suicid*" matches "suicide", "suicidal", "suicidally"). Inflections are otherwise listed,
not guessed: stemming would turn "killed it at work" into a false alarm.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_WILDCARD = "*"


def normalise(text: str) -> str:
    """Case-fold, strip accents, turn punctuation into spaces and collapse whitespace."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for char in folded:
        if unicodedata.combining(char):
            continue  # the accent of an accented letter
        kept.append(char if char.isalnum() else " ")
    return " ".join("".join(kept).split())


def _phrase_pattern(phrase: str) -> str | None:
    """A regular expression for one phrase on normalised text, or None if it has no words."""
    words = []
    for raw in phrase.split():
        wild = raw.endswith(_WILDCARD)
        for part in normalise(raw.rstrip(_WILDCARD)).split():
            words.append(re.escape(part))
        if wild and words:
            words[-1] += r"[^ ]*"
    if not words:
        return None
    return r"(?:^| )" + " ".join(words) + r"(?= |$)"


@dataclass(frozen=True)
class Matcher:
    """Compiled phrases, one expression per category, checked in the configured order."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...]

    def match(self, text: str | None) -> str | None:
        """The first category whose phrases occur in ``text``, or None."""
        if not text:
            return None
        clean = normalise(text)
        if not clean:
            return None
        for category, pattern in self.patterns:
            if pattern.search(clean):
                return category
        return None


def compile_phrases(phrases: Mapping[str, Sequence[str]]) -> Matcher:
    """Build a :class:`Matcher` from ``{category: [phrase, ...]}`` (empty phrases are ignored)."""
    compiled = []
    for category, entries in phrases.items():
        parts = sorted(
            {p for p in (_phrase_pattern(e) for e in entries) if p is not None},
            key=len,
            reverse=True,
        )
        if parts:
            compiled.append((category, re.compile("|".join(parts))))
    return Matcher(tuple(compiled))
