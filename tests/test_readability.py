"""Plain words, checked: every English text participants read scores at least 70 on Flesch
reading ease (when it is over six words) and fits on a phone screen.

A failure lists each text with its score, so whoever edits bot/locales/en.toml or
config.example.toml knows what to rewrite: shorter sentences, shorter words.
"""

from __future__ import annotations

import socket
import tomllib
from typing import Any

import pytest

from bot import readability
from bot.readability import (
    MAX_CHARS,
    SENT_IN_PARTS,
    TARGET,
    filled,
    participant_config_texts,
    participant_locale_texts,
    plain,
    score,
    word_count,
)
from bot.texts import LOCALES, screens
from tests.conftest import EXAMPLE


def locale() -> dict[str, Any]:
    with (LOCALES / "en.toml").open("rb") as handle:
        return tomllib.load(handle)


def example() -> dict[str, Any]:
    with EXAMPLE.open("rb") as handle:
        return tomllib.load(handle)


def everything() -> list[tuple[str, str]]:
    """Every English participant text we ship, named as an editor finds it."""
    found = [(f"en.toml {name}", text) for name, text in participant_locale_texts(locale())]
    found += [
        ("config.example.toml " + ".".join(str(part) for part in path), text)
        for path, text in participant_config_texts(example())
    ]
    return found


def test_every_participant_text_reads_easily() -> None:
    hard = sorted(
        (found, name)
        for name, text in everything()
        if (found := score(text)) is not None and found < TARGET
    )
    assert not hard, f"Flesch reading ease below {TARGET}; shorter sentences help:\n" + "\n".join(
        f"  {name}: {found}" for found, name in hard
    )


def test_every_participant_message_fits_on_a_phone_screen() -> None:
    samples = dict(readability.SAMPLE_VALUES)
    samples["safeguarding"] = locale()["privacy"]["safeguarding_words"]  # the longer one
    too_long = []
    for name, text in everything():
        message = filled(text, samples)
        parts = screens(message) if name.removeprefix("en.toml ") in SENT_IN_PARTS else [message]
        too_long += [f"  {name}: {len(part)} characters" for part in parts if len(part) > MAX_CHARS]
    assert not too_long, f"Longer than a phone screen ({MAX_CHARS} characters):\n" + "\n".join(
        too_long
    )


def test_the_checks_see_every_kind_of_participant_text() -> None:
    names = {name for name, _ in everything()}
    for expected in (
        "en.toml help.text",
        "en.toml mydata.summary",
        "en.toml decide.ballot",  # participants' side of /decide
        "config.example.toml consent.text",
        "config.example.toml consent.more",
        "config.example.toml project.stage_messages.design",
        "config.example.toml checkins.0.intro",
        "config.example.toml checkins.0.questions.0.text",
        "config.example.toml checkins.0.questions.0.min_label",
        "config.example.toml checkins.0.questions.2.options.0",
        "config.example.toml checkins.1.questions.0.follow_up",
        "config.example.toml decisions.0.question",
        "config.example.toml decisions.0.options.1",
    ):
        assert expected in names, expected
    for team_only in ("coord.stats_title", "alerts.alert", "decide.usage", "suggest.for_team"):
        assert f"en.toml {team_only}" not in names, team_only


def test_a_new_locale_key_is_for_participants_unless_listed_as_the_teams() -> None:
    texts = dict(
        participant_locale_texts(
            {"brand_new": {"key": "x"}, "coord": {"key": "y"}, "decide": {"usage": "z"}}
        )
    )
    assert texts == {"brand_new.key": "x"}


def test_config_texts_in_several_languages_are_scored_in_english() -> None:
    data = {"consent": {"text": {"en": "Hello there.", "pl": "Cześć."}}}
    assert list(participant_config_texts(data)) == [(("consent", "text", "en"), "Hello there.")]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("📝 {title}", ""),
        ("• Your code name: {pseudonym}\n• Status: {status}", "Your code name. Status."),
        ("/checkin – answer the check-in", "checkin, answer the check-in."),
        ("Tap “Done ✔”. <b>Now</b>", "Tap Done . Now."),
        ("Your answers go to the\nteam every week.", "Your answers go to the team every week."),
    ],
)
def test_what_is_scored_is_the_words_people_read(text: str, words: str) -> None:
    assert plain(text) == words


def test_short_texts_are_not_scored() -> None:
    assert score("Tap one of the buttons, please.") is None  # six words
    assert word_count("Tap one of the buttons, please.") == 6
    assert score("Tap one of the buttons below, please.") is not None
    easy = score("We ask you a few short questions. You can stop at any time.")
    hard = score(
        "Participation necessitates acknowledgement of organisational information-processing"
        " responsibilities, notwithstanding confidentiality considerations."
    )
    assert easy is not None and hard is not None and easy >= TARGET > hard


def test_scoring_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """textstat 0.7.9 and later fetch NLTK's word list at run time: ours must not."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("readability scoring tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert score("Everystage asks people about services they actually use every week.") is not None
