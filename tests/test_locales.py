"""The locale files: complete, the same {placeholders} as English, and PO files round trip.

A new English key makes ``test_complete`` fail for each shipped language, naming the keys to
translate (``everystage translations bot-export`` gives a translator exactly those, empty).
"""

from __future__ import annotations

import io
import re
import string
import tomllib

import pytest
from babel.messages.pofile import read_po, write_po
from hypothesis import given
from hypothesis import strategies as st

from bot import locale_files
from bot.cli import main
from bot.texts import LOCALES, Texts, available

ENGLISH = locale_files.english()
ENGLISH_KEYS = set(locale_files.keys(ENGLISH))
TRANSLATIONS = [locale for locale in available() if locale != "en"]
# Shipped translations: each must have every English key.
COMPLETE = ["ar", "pl", "ro"]

# What only the project team reads; everything else reaches participants.
TEAM_SECTIONS = {
    "admin",
    "coord",
    "alerts",
    "digest",
    "coordinator_commands",
    "peer_commands",
    "payments",
}
TEAM_KEYS = {f"update.{key}" for key in ENGLISH["update"] if key != "header"} | {
    f"suggest.{key}"
    for key in [
        *("for_team", "team_adopted", "team_not_now", "adopt", "not_now", "reply"),
        *("reply_prompt", "answer_sent", "done_adopted", "done_not_now", "already"),
        *("to_vote", "to_ask", "vote_prompt", "ask_which"),
    ]
}
# [decide]: from "usage" on, the keys are for the team (see the comment in en.toml).
_decide = list(ENGLISH["decide"])
TEAM_KEYS |= {f"decide.{key}" for key in _decide[_decide.index("usage") :]}

_COMMAND = re.compile(r"/[a-z_]+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


def participant_keys() -> list[str]:
    return [
        key
        for key in locale_files.keys(ENGLISH)
        if key.split(".")[0] not in TEAM_SECTIONS and key not in TEAM_KEYS
    ]


def has_words(text: str) -> bool:
    """Whether a text has letters once {placeholders} and /commands are taken out."""
    parts = [literal for literal, _, _, _ in string.Formatter().parse(text)]
    return any(char.isalpha() for char in _COMMAND.sub("", "".join(parts)))


def load(locale: str) -> locale_files.Strings:
    return locale_files.read_strings(LOCALES / f"{locale}.toml")


def test_the_shipped_languages_are_there():
    assert set(COMPLETE) <= set(TRANSLATIONS)


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_every_key_is_an_english_key(locale):
    stray = [key for key in locale_files.keys(load(locale)) if key not in ENGLISH_KEYS]
    assert not stray, f"{locale}.toml has keys en.toml does not: {stray}"


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_placeholders_are_the_english_ones(locale):
    wrong = []
    for section, names in load(locale).items():
        for key, text in names.items():
            wanted = locale_files.placeholders(ENGLISH[section][key])
            if locale_files.placeholders(text) != wanted:
                wrong.append(f"{section}.{key}: {sorted(locale_files.placeholders(text))}")
    assert not wrong, f"{locale}.toml: placeholders differ from English: {wrong}"


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_every_text_fills_in(locale):
    for section, names in load(locale).items():
        for key, text in names.items():
            values = dict.fromkeys(locale_files.placeholders(text), "x")
            assert isinstance(text.format(**values), str), f"{section}.{key}"
    texts = Texts.load(locale)
    assert texts("checkin.progress", number=1, total=3)


@pytest.mark.parametrize("locale", TRANSLATIONS)
def test_same_line_breaks_as_english(locale):
    """Same number of lines: bullets and paragraphs stay where the English has them."""
    differ = [
        f"{section}.{key}"
        for section, names in load(locale).items()
        for key, text in names.items()
        if text.count("\n") != ENGLISH[section][key].count("\n")
    ]
    assert not differ, f"{locale}.toml: line breaks differ from English in {differ}"


def test_coverage_per_language(capsys):
    figures = {}
    for locale in TRANSLATIONS:
        done, total = locale_files.coverage(load(locale), ENGLISH)
        figures[locale] = done / total
        print(f"{locale}: {done}/{total} keys translated ({done * 100 / total:.0f}%)")
    assert all(0 <= share <= 1 for share in figures.values())
    assert "ar:" in capsys.readouterr().out


@pytest.mark.parametrize("locale", COMPLETE)
def test_complete(locale):
    missing = locale_files.missing(load(locale), ENGLISH)
    assert not missing, (
        f"{locale}.toml lacks {len(missing)} English key(s); translate them: {missing}"
    )
    assert not Texts.load(locale).missing


@pytest.mark.parametrize("locale", COMPLETE)
def test_marked_as_a_draft_for_review(locale):
    opening = (LOCALES / f"{locale}.toml").read_text(encoding="utf-8")[:400]
    assert "DRAFT BY MACHINE" in opening and "native" in opening


def test_arabic_participant_texts_are_in_arabic():
    arabic = load("ar")
    english_left = [
        key
        for key in participant_keys()
        if has_words(ENGLISH[key.split(".")[0]][key.split(".")[1]])
        and not _ARABIC.search(arabic.get(key.split(".")[0], {}).get(key.split(".")[1], ""))
    ]
    assert not english_left, f"ar.toml: not in Arabic: {english_left}"


@pytest.mark.parametrize("locale", COMPLETE)
def test_participant_texts_are_not_left_in_english(locale):
    strings = load(locale)
    same = [
        key
        for key in participant_keys()
        if has_words(ENGLISH[key.split(".")[0]][key.split(".")[1]])
        and strings[key.split(".")[0]][key.split(".")[1]]
        == ENGLISH[key.split(".")[0]][key.split(".")[1]]
    ]
    assert not same, f"{locale}.toml: same as the English: {same}"


def test_participant_and_team_keys_are_english_keys():
    assert TEAM_KEYS <= ENGLISH_KEYS
    assert "welcome.new" in participant_keys() and "decide.ballot" in participant_keys()
    assert "decide.usage" not in participant_keys()


# ---------------------------------------------------------------------------------------------
# PO files (Babel) and back.


@pytest.mark.parametrize("locale", [*TRANSLATIONS, "en"])
def test_po_round_trip_loses_nothing(locale, tmp_path):
    po = locale_files.export_po(locale)
    target = tmp_path / f"{locale}.toml"
    path, result = locale_files.import_po(locale, io.BytesIO(po), target)
    assert path == target and not result.problems and not result.notes
    assert tomllib.loads(target.read_text(encoding="utf-8")) == load(locale)


@pytest.mark.parametrize("locale", COMPLETE)
def test_shipped_files_are_as_bot_import_writes_them(locale, tmp_path):
    """So a PO round trip leaves no diff in git."""
    target = tmp_path / f"{locale}.toml"
    locale_files.import_po(locale, io.BytesIO(locale_files.export_po(locale)), target)
    assert target.read_text(encoding="utf-8") == (LOCALES / f"{locale}.toml").read_text(
        encoding="utf-8"
    )


def test_po_messages_are_keyed_by_section_and_key():
    catalog = read_po(io.BytesIO(locale_files.export_po("pl")))
    message = catalog.get("Welcome back. 👋", context="welcome.back")
    assert message is not None and message.string == "Witaj z powrotem. 👋"
    assert len([m for m in catalog if m.id]) == len(ENGLISH_KEYS)
    progress = catalog.get(ENGLISH["checkin"]["progress"], context="checkin.progress")
    assert "python-brace-format" in progress.flags
    assert any("{number}" in note for note in progress.auto_comments)
    # The English file's comments reach the translator.
    up_to = catalog.get(ENGLISH["checkin"]["progress_up_to"], context="checkin.progress_up_to")
    assert any("later questions" in note for note in up_to.auto_comments)


def _edited_po(locale: str, edit) -> io.BytesIO:
    catalog = read_po(io.BytesIO(locale_files.export_po(locale)))
    for message in catalog:
        if message.id:
            edit(message)
    out = io.BytesIO()
    write_po(out, catalog)
    out.seek(0)
    return out


def test_fuzzy_and_empty_translations_are_untranslated(tmp_path):
    def edit(message):
        if message.context == "welcome.back":
            message.flags.add("fuzzy")
        if message.context == "consent.yes":
            message.string = ""

    target = tmp_path / "pl.toml"
    _, result = locale_files.import_po("pl", _edited_po("pl", edit), target)
    assert not result.problems
    written = tomllib.loads(target.read_text(encoding="utf-8"))
    assert "back" not in written["welcome"] and "yes" not in written["consent"]
    assert written["welcome"]["back_again"] == load("pl")["welcome"]["back_again"]
    assert locale_files.missing(written, ENGLISH) == ["welcome.back", "consent.yes"]


def test_wrong_placeholders_are_refused_and_nothing_written(tmp_path):
    def edit(message):
        if message.context == "checkin.progress":
            message.string = "Pytanie {numer} z {total}"
        if message.context == "checkin.number_range":
            message.string = "Wpisz liczbę od {min} do {max"

    target = tmp_path / "pl.toml"
    _, result = locale_files.import_po("pl", _edited_po("pl", edit), target)
    assert not target.exists()
    assert len(result.problems) == 2
    assert "checkin.progress" in result.problems[0] and "{numer}" in result.problems[0]


def test_a_new_language_starts_empty(tmp_path):
    catalog = read_po(io.BytesIO(locale_files.export_po("uk")))
    assert all(not m.string for m in catalog if m.id)
    target = tmp_path / "uk.toml"
    locale_files.import_po("uk", io.BytesIO(locale_files.export_po("uk")), target)
    assert tomllib.loads(target.read_text(encoding="utf-8")) == {}
    assert "Ukrainian" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["../en", "pl/../x", "", "PL.toml"])
def test_locale_names_are_checked(name):
    with pytest.raises(ValueError):
        locale_files.check_locale_name(name)


@given(st.text())
def test_toml_strings_read_back(value):
    assert tomllib.loads(f"k = {locale_files.toml_string(value)}")["k"] == value


@pytest.mark.parametrize(
    "value", ['say "hi"\n\n\nend"', '""\n\n\n""', '"""\n\n\n"""', "\n\n\n\\", "a\tb\r\n\n\n"]
)
def test_toml_multiline_strings_read_back(value):
    assert tomllib.loads(f"k = {locale_files.toml_string(value)}")["k"] == value


def test_cli_round_trip(tmp_path, capsys):
    po, toml = tmp_path / "ro.po", tmp_path / "ro.toml"
    assert main(["translations", "bot-export", "--locale", "ro", "--output", str(po)]) == 0
    assert po.read_bytes().startswith(b"# Romanian")
    args = ["translations", "bot-import", "--locale", "ro", "--input", str(po)]
    assert main([*args, "--output", str(toml)]) == 0
    assert tomllib.loads(toml.read_text(encoding="utf-8")) == load("ro")
    assert "100%" in capsys.readouterr().err


def test_cli_refuses_a_bad_po(tmp_path, capsys):
    po = tmp_path / "pl.po"
    po.write_bytes(
        _edited_po(
            "pl",
            lambda m: setattr(m, "string", "{oops}") if m.context == "error.generic" else None,
        ).read()
    )
    target = tmp_path / "pl.toml"
    args = ["translations", "bot-import", "--locale", "pl", "--input", str(po)]
    assert main([*args, "--output", str(target)]) == 1
    assert not target.exists()
    assert "error.generic" in capsys.readouterr().err
