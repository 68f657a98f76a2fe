"""How easy a participant-facing text is to read: Flesch reading ease, on the words people see.

Pure: no Telegram, no files. ``tests/test_readability.py`` holds every English text people read
(``bot/locales/en.toml`` and the example config) to ``TARGET``; ``everystage check-config``
warns a coordinator about their own texts below ``WARN_BELOW``.

Flesch reading ease is 206.835 - 1.015 × (words per sentence) - 84.6 × (syllables per word):
100 is very easy, 60-70 plain English, below 50 hard. It only knows English, and only counts;
it cannot tell a warm sentence from a cold one. It is a floor, not a judge.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import textstat

# Texts of this many words or fewer are not scored: a button or a heading has no sentences.
MIN_WORDS = 7
# What every text we ship must reach, and below which check-config warns a coordinator.
TARGET = 70
WARN_BELOW = 60
# About a phone screen of text: a longer message is split into parts, or cut.
MAX_CHARS = 500

# Sections and keys of bot/locales/*.toml that only the team (coordinators and peer
# researchers) reads. Everything else is for participants and is checked, so a new key is
# checked unless it is added here.
TEAM_SECTIONS = frozenset(
    {
        "admin",  # only shown to someone trying a team command
        "alerts",
        "coord",
        "coordinator_commands",
        "digest",
        "listen",  # /listen: coordinators hearing voice notes
        "payments",  # /paid
        "peer_commands",
        "update",  # writing "you said, we did" updates; participants see only its header
    }
)
TEAM_KEYS = frozenset(
    {
        # /decide, for the team: writing, previewing, sending and closing a decision.
        *(
            f"decide.{key}"
            for key in (
                "usage",
                "from_config",
                "config_line",
                "recent",
                "recent_open",
                "recent_closed",
                "recent_did",
                "problems",
                "unknown",
                "already",
                "preview",
                "preview_option",
                "method_plurality",
                "method_approval",
                "who_everyone",
                "who_cohort",
                "who_checkin",
                "put",
                "cancel",
                "cancelled",
                "gone",
                "nobody",
                "sent",
                "close_now",
                "closed_now",
                "already_closed",
                "team_result",
                "did",
                "did_write",
                "did_about",
                "to_team",
                "preview_for_team",
                "handed_over",
                "no_coordinators",
                "drafted",
                "author_sent",
                "author_discarded",
            )
        ),
        # /suggest, the team's side: the suggestion as the team sees it and their buttons.
        *(
            f"suggest.{key}"
            for key in (
                "for_team",
                "team_adopted",
                "team_not_now",
                "adopt",
                "not_now",
                "reply",
                "reply_prompt",
                "answer_sent",
                "done_adopted",
                "done_not_now",
                "already",
                "gone",
                "to_vote",
                "to_ask",
                "vote_prompt",
                "ask_which",
            )
        ),
    }
)

# Realistic values for the placeholders of the locale file, to measure a message's length as
# people get it. A placeholder missing here counts as 12 characters.
SAMPLE_VALUES: Mapping[str, str] = {
    "project": "Riverside Pathways",
    "title": "Weekly check-in",
    "retention": "2 years",
    "years": "6 years",
    "payment_years": "6 years",
    "organisation": "Riverside Housing Trust",
    "contact": "Sam Okafor, data@riverside.example, 0161 496 0000",
    "pseudonym": "P-7KQ2MX",
    "consented": "3 March 2026",
    "question": "If you could change one thing first, what would it be?",
    "answer": "Somewhere safe to sleep",
    "stage": "delivery",
    "by_stage": "4 in design, 2 in delivery",
    "text": "Could the drop-in open earlier on Mondays? Many of us wait outside from 8.",
    "closes": "Friday 6 March, 18:00",
    "frequency": "Every week",
    "quiet": "21:00 to 09:00",
    "timezone": "London",
    "recognition": "check my benefits first",
}
# Messages the bot sends a phone screen at a time (bot/texts.py ``screens``): each part, not the
# whole, must fit on a screen.
SENT_IN_PARTS = frozenset({"privacy.notice"})


_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_COMMAND = re.compile(r"(?<![\w/])/(?=[a-z])")
_TAG = re.compile(r"<[^>]+>")
_BULLET = re.compile(r"^\s*(?:[•·▪◦*]|-(?=\s))\s*", re.MULTILINE)
_DASH = re.compile(r"\s+[–—-]\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def plain(text: str) -> str:
    """The words people read, as sentences: no placeholders, emoji, bullets or markup.

    A line that does not end a sentence (a list item, a heading) is read as one: on a phone it
    stands alone, and reading it does not run on into the next.
    """
    # A line wrapped inside a sentence (the next line goes on in lower case) is one line.
    text = re.sub(r"(?<![.!?:…])[ \t]*\n[ \t]*(?=[a-z])", " ", text)
    text = _PLACEHOLDER.sub("", text)
    text = _TAG.sub("", text)
    text = _COMMAND.sub("", text)  # "/checkin" reads as a word
    text = _BULLET.sub("", text)
    text = _DASH.sub(", ", text)
    text = "".join(
        " " if char in '*_`“”‘"()' else char
        for char in text
        if unicodedata.category(char) not in {"So", "Sk", "Cf", "Mn"} or char.isalnum()
    )
    sentences = []
    for raw in text.splitlines():
        line = re.sub(r"\s+", " ", raw).strip(" ,;")
        if not _WORD.search(line):
            continue
        if line.endswith(":"):
            line = line[:-1]
        if not line.endswith((".", "!", "?", "…")):
            line += "."
        sentences.append(line)
    return " ".join(sentences)


def word_count(text: str) -> int:
    """Words in a text as people read it."""
    return len(_WORD.findall(plain(text)))


def score(text: str) -> float | None:
    """Flesch reading ease of ``text``, or None when it is too short to score (six words or
    fewer)."""
    words = plain(text)
    if len(_WORD.findall(words)) < MIN_WORDS:
        return None
    return round(float(textstat.flesch_reading_ease(words)), 1)


def filled(text: str, samples: Mapping[str, str] = SAMPLE_VALUES) -> str:
    """``text`` with each placeholder replaced by a realistic value (12 characters if unknown)."""
    return _PLACEHOLDER.sub(lambda m: samples.get(m.group(0)[1:-1], "x" * 12), text)


# ---------------------------------------------------------------------------------------------
# Which texts are participants'.


def participant_locale_texts(locale: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(section.key, text)`` for each participant-facing text of a locale file."""
    for section, entries in locale.items():
        if section in TEAM_SECTIONS or not isinstance(entries, Mapping):
            continue
        for key, value in entries.items():
            name = f"{section}.{key}"
            if isinstance(value, str) and name not in TEAM_KEYS:
                yield name, value


Path = tuple[str | int, ...]


def _english(value: Any) -> str | None:
    """A config text: a string, or the English one of a table of languages."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("en"), str):
        return value["en"]
    return None


def _at(path: Path, value: Any) -> Iterator[tuple[Path, str]]:
    text = _english(value)
    if text is not None:
        yield ((*path, "en") if isinstance(value, Mapping) else path), text
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _at((*path, index), item)


_QUESTION_TEXTS = ("text", "follow_up", "min_label", "max_label", "options")


def participant_config_texts(data: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """``(key path, text)`` for each text of a raw config that participants read: the consent
    text, stage news, check-ins' intros, questions, options and closings, decisions."""
    consent = data.get("consent")
    if isinstance(consent, Mapping):
        for key in ("text", "more"):
            yield from _at(("consent", key), consent.get(key))
    project = data.get("project")
    stage_messages = project.get("stage_messages") if isinstance(project, Mapping) else None
    if isinstance(stage_messages, Mapping):
        for stage, value in stage_messages.items():
            yield from _at(("project", "stage_messages", stage), value)
    checkins = data.get("checkins")
    for i, checkin in enumerate(checkins if isinstance(checkins, list) else []):
        if not isinstance(checkin, Mapping):
            continue
        for key in ("title", "intro", "closing"):
            yield from _at(("checkins", i, key), checkin.get(key))
        questions = checkin.get("questions")
        for j, question in enumerate(questions if isinstance(questions, list) else []):
            if isinstance(question, Mapping):
                for key in _QUESTION_TEXTS:
                    yield from _at(("checkins", i, "questions", j, key), question.get(key))
    decisions = data.get("decisions")
    for i, decision in enumerate(decisions if isinstance(decisions, list) else []):
        if isinstance(decision, Mapping):
            for key in ("question", "options"):
                yield from _at(("decisions", i, key), decision.get(key))
