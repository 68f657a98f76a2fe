"""Check-ins, consent and stage messages in several languages: written in the config, checked
by check-config (FILE:LINE), each language's copy of the settings, and the translators' sheet
(`everystage translations export|import`) round-tripping through CSV and XLSX.

Only English ships on this branch, so each test adds a small Polish locale file to a copy of
the locale folder (bot.texts.LOCALES).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bot.texts
from bot.cli import main
from bot.settings import ConfigError, load_settings
from bot.translation_sheet import read_sheet
from tests.conftest import EXAMPLE as ENGLISH_EXAMPLE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ENGLISH_EXAMPLE  # the example in English alone (tests/conftest.py)

CONFIG = """\
[project]
name = "Riverside"
languages = ["en", "pl"]

[consent]
version = { en = 3, pl = 1 }
text = { en = "Is that OK? We keep answers {retention}.", pl = "Czy to OK? {retention}." }

[project.stage_messages]
design = { en = "We are designing.", pl = "Projektujemy." }

[safeguarding]
phrases = {}

[[checkins]]
id = "weekly"
# Dotted keys read the same as a table.
title.en = "Weekly check-in"
title.pl = "Cotygodniowe pytania"

  [[checkins.questions]]
  id = "where"
  kind = "choice"
  text = { en = "What needs to change?", pl = "Co trzeba zmienić?" }
  options = { en = ["Hours", "Staff"], pl = ["Godziny", "Personel"] }

  [[checkins.questions]]
  id = "week"
  kind = "scale"
  text = { en = "How was your week?", pl = "Jak minął tydzień?" }
  min_label = { en = "Hard", pl = "Ciężko" }
  show_if = { question = "where", equals = "Staff" }
"""


@pytest.fixture(autouse=True)
def polish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A locale folder with English and a (barely) Polish file."""
    folder = tmp_path / "locales"
    folder.mkdir()
    shutil.copy(bot.texts.LOCALES / "en.toml", folder / "en.toml")
    (folder / "pl.toml").write_text('[checkin]\nyes = "Tak"\n', encoding="utf-8")
    monkeypatch.setattr(bot.texts, "LOCALES", folder)
    return folder


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return [str(problem) for problem in caught.value.problems]


def line_of(path: Path, fragment: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(n for n, line in enumerate(lines, 1) if fragment in line)


# ---------------------------------------------------------------------------------------------
# Reading texts per language.


def test_the_model_holds_the_default_language_and_each_copy_its_own(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG))
    checkin = settings.checkins[0]
    assert checkin.title == "Weekly check-in"
    assert checkin.questions[0].options == ["Hours", "Staff"]
    assert settings.consent.version == 3

    polish = settings.localized("pl")
    assert polish.language == "pl"
    checkin = polish.checkins[0]
    assert checkin.title == "Cotygodniowe pytania"
    where, week = checkin.questions
    assert where.text == "Co trzeba zmienić?"
    # Options keep their values (what answers store, so answers add up across languages);
    # the buttons say the labels, and a typed label or value is the same answer.
    assert where.options == ["Hours", "Staff"]
    assert where.labels == ["Godziny", "Personel"]
    assert where.button_labels() == ["Godziny", "Personel"]
    assert where.pressed(1).value == "Staff"  # type: ignore[union-attr]
    assert where.match("personel") == 1 and where.match("Staff") == 1
    assert where.describe("Staff") == "Personel"
    assert week.min_label == "Ciężko"
    assert week.show_if is not None and week.show_if.equals == "Staff"
    assert polish.project.stage_messages == {"design": "Projektujemy."}
    assert polish.consent_text() == "Czy to OK? 2 lata."
    assert settings.consent_text() == "Is that OK? We keep answers 2 years."
    # Made once; back to the default from any copy; unknown languages read the default.
    assert settings.localized("pl") is polish
    assert polish.localized("en") is settings
    assert settings.localized("de") is settings
    assert settings.localized("en").checkins[0].questions[0].labels == ["Hours", "Staff"]


def test_consent_version_per_language(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG))
    assert settings.consent_version_for("en") == 3
    assert settings.consent_version_for("pl") == 1
    assert settings.localized("pl").consent.version == 1
    assert settings.localized("pl").consent_version_for("en") == 3
    assert settings.consent_version_for("de") == 3  # not offered: the default's
    one = load_settings(write(tmp_path, CONFIG.replace("{ en = 3, pl = 1 }", "2")))
    assert one.consent_version_for("pl") == one.localized("pl").consent.version == 2


def test_a_missing_translation_reads_in_the_default_language_when_allowed(tmp_path: Path) -> None:
    text = CONFIG.replace(
        'languages = ["en", "pl"]', 'languages = ["en", "pl"]\nmissing_translations = "default"'
    ).replace('min_label = { en = "Hard", pl = "Ciężko" }', 'min_label = "Hard"')
    text = text.replace("version = { en = 3, pl = 1 }", "version = { en = 3 }")
    settings = load_settings(write(tmp_path, text))
    polish = settings.localized("pl")
    assert polish.checkins[0].questions[1].min_label == "Hard"
    assert polish.checkins[0].questions[1].text == "Jak minął tydzień?"
    assert polish.consent.version == 3
    have, total = settings.translations.coverage("pl")
    assert (have, total) == (total - 1, total)


def test_a_settings_copy_makes_its_own_language_copies(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG))
    polish = settings.localized("pl")
    moved = settings.model_copy(update={"digest": settings.digest.model_copy()})
    assert moved.localized("pl") is not polish
    assert moved.localized("pl") == polish
    assert load_settings(tmp_path / "config.toml") == settings


# ---------------------------------------------------------------------------------------------
# check-config.


def test_a_missing_translation_is_an_error_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        CONFIG.replace('min_label = { en = "Hard", pl = "Ciężko" }', 'min_label = "Hard"')
        .replace('title.pl = "Cotygodniowe pytania"\n', "")
        .replace("version = { en = 3, pl = 1 }", "version = { en = 3 }"),
    )
    assert problems(path) == [
        f"{path}:{line_of(path, 'version =')}: consent.version: has no version for Polish (pl);"
        " add pl = 1, or let it be"
        ' the default\'s with missing_translations = "default"',
        f'{path}:{line_of(path, "title.en")}: check-in "weekly", title: has no text in Polish'
        " (pl); add pl = ... to it,"
        " or let texts without a translation read in English (en) with missing_translations ="
        ' "default" under [project]',
        f'{path}:{line_of(path, "min_label")}: check-in "weekly", question "week", min_label:'
        " has no text in Polish (pl); write it as { en = ..., pl = ... }, or let texts without a"
        ' translation read in English (en) with missing_translations = "default" under [project]',
    ]


def test_option_counts_must_match_across_languages(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.replace('"Personel"]', '"Personel", "Inne"]'))
    assert problems(path) == [
        f'{path}:{line_of(path, "options")}: check-in "weekly", question "where", options.pl:'
        " has 3 options, and English (en) has 2; give every language the same options, in the"
        " same order"
    ]


def test_languages_outside_the_project_and_the_default_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        CONFIG.replace(
            'pl = "Projektujemy." }', 'pl = "Projektujemy.", de = "Wir planen." }'
        ).replace('{ en = "How was your week?", pl', "{ pl"),
    )
    assert problems(path) == [
        f"{path}:{line_of(path, 'Wir planen')}: project.stage_messages.design.de: 'de' is not"
        " one of the project's languages (en, pl); add it to languages under [project], or"
        " remove this",
        f'{path}:{line_of(path, "Jak minął")}: check-in "weekly", question "week", text:'
        ' has no text in English (en), the project\'s language (locale); add en = "..."',
    ]


def test_each_language_is_checked_as_the_default_is(tmp_path: Path) -> None:
    long = "x" * 61
    path = write(tmp_path, CONFIG.replace('"Personel"]', f'"{long}"]'))
    assert problems(path) == [
        f'{path}:{line_of(path, "options")}: check-in "weekly", question "where",'
        " options.pl[1]: is too long; write at most 60 characters"
    ]


def test_the_summary_gives_each_languages_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG.replace(
        'languages = ["en", "pl"]', 'languages = ["en", "pl"]\nmissing_translations = "default"'
    ).replace('min_label = { en = "Hard", pl = "Ciężko" }', 'min_label = "Hard"')
    path = write(tmp_path, text)
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Consent: versions en 3, pl 1; answers kept 730 days" in out
    assert "Languages: en (default), pl 85% (1 texts in English)" in out


def test_one_language_says_nothing_of_languages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert "Languages" not in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The translators' sheet.


def example_in_two_languages(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'locale = "en"\n',
        'locale = "en"\nlanguages = ["en", "pl"]\nmissing_translations = "default"\n',
    )
    return write(tmp_path, text)


def translate(table: list[list[str]]) -> list[list[str]]:
    """What a translator sends back: every text in 'Polish'."""
    return [table[0]] + [[key, en, f"PL {en}"] for key, en, _ in table[1:]]


def test_export_import_export_round_trips_through_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = example_in_two_languages(tmp_path)
    sheet = tmp_path / "texts.csv"
    assert main(["translations", "export", "--config", str(config), "--output", str(sheet)]) == 0
    exported = read_sheet(sheet)
    assert exported[0] == ["key", "en", "pl"]
    assert ["checkins.weekly.questions.week.text", "How has your week been?", ""] in exported
    assert sheet.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8

    with sheet.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(translate(exported))
    before = config.read_text(encoding="utf-8")
    assert main(["translations", "import", "--config", str(config), str(sheet)]) == 0
    after = config.read_text(encoding="utf-8")
    assert "# Bump the version whenever you change the text" in after  # comments kept
    assert 'title = { en = "Weekly check-in", pl = "PL Weekly check-in" }' in after
    assert len(after.splitlines()) >= len(before.splitlines())

    settings = load_settings(config)
    polish = settings.localized("pl")
    assert polish.checkin("weekly").title == "PL Weekly check-in"  # type: ignore[union-attr]
    assert settings.translations.coverage("pl")[0] == len(settings.translations.texts)
    again = tmp_path / "again.csv"
    assert main(["translations", "export", "--config", str(config), "--output", str(again)]) == 0
    assert read_sheet(again) == translate(exported)

    # Importing it again changes nothing, byte for byte.
    capsys.readouterr()
    assert main(["translations", "import", "--config", str(config), str(again)]) == 0
    assert "nothing to change" in capsys.readouterr().err
    assert config.read_text(encoding="utf-8") == after
    assert load_settings(config) == settings


def test_import_writes_into_the_included_file_and_never_empties(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    main_part, _, checkins = CONFIG.partition("[[checkins]]")
    config = write(tmp_path, main_part + '[prompts]\ninclude = ["prompts/*.toml"]\n')
    (prompts / "weekly.toml").write_text("[[checkins]]" + checkins, encoding="utf-8")
    sheet = tmp_path / "fix.csv"
    sheet.write_text(
        "key,en,pl\n"
        "checkins.weekly.questions.where.text,What needs to change?,Co zmienić?\n"
        "checkins.weekly.title,Weekly check-in,\n",
        encoding="utf-8",
    )
    assert main(["translations", "import", "--config", str(config), str(sheet)]) == 0
    written = (prompts / "weekly.toml").read_text(encoding="utf-8")
    assert 'text = { en = "What needs to change?", pl = "Co zmienić?" }' in written
    assert 'title.pl = "Cotygodniowe pytania"' in written  # an empty cell removes nothing


def test_import_refuses_what_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, CONFIG)
    before = config.read_text(encoding="utf-8")
    sheet = tmp_path / "bad.csv"
    sheet.write_text(
        "key,en,pl\n"
        "checkins.weekly.questions.gone.text,Gone,Nie ma\n"
        "checkins.weekly.questions.where.options.1,Opening hours,\n"
        f"checkins.weekly.questions.where.options.2,Staff,{'x' * 61}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["translations", "import", "--config", str(config), str(sheet)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{sheet}:2: checkins.weekly.questions.gone.text: is not a text of this configuration"
        " (was an id changed? export again)",
        f"{sheet}:3: checkins.weekly.questions.where.options: the English (en) options are"
        " what answers store; change them in the config file itself, if at all",
        "2 problem(s) found; nothing was changed.",
    ]
    # A translation the config cannot take: the file is put back as it was.
    sheet.write_text(
        f"key,en,pl\ncheckins.weekly.questions.where.options.2,Staff,{'x' * 61}\n",
        encoding="utf-8",
    )
    assert main(["translations", "import", "--config", str(config), str(sheet)]) == 2
    assert "options.pl[1]: is too long" in capsys.readouterr().err
    assert config.read_text(encoding="utf-8") == before


def test_the_real_command_round_trips_through_xlsx(tmp_path: Path, polish: Path) -> None:
    """`everystage translations` in its own process (with the test's locale folder)."""
    config = example_in_two_languages(tmp_path)
    runner = tmp_path / "run.py"
    runner.write_text(
        "import pathlib, sys\nimport bot.texts\n"
        "bot.texts.LOCALES = pathlib.Path(sys.argv[1])\n"
        "from bot.cli import main\nsys.exit(main(sys.argv[2:]))\n",
        encoding="utf-8",
    )

    def everystage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(runner), str(polish), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    book = tmp_path / "texts.xlsx"
    done = everystage("translations", "export", "--config", str(config), "--format", "xlsx")
    assert done.returncode == 1 and "xlsx needs --output" in done.stderr
    done = everystage(
        "translations", "export", "--config", str(config), "--format", "xlsx", "--output", str(book)
    )
    assert done.returncode == 0, done.stderr
    from openpyxl import load_workbook

    workbook = load_workbook(book)
    sheet = workbook.active
    assert sheet is not None
    for row in sheet.iter_rows(min_row=2):
        row[2].value = f"= PL {row[1].value}"  # text starting with '=' stays text
        row[2].data_type = "s"
    workbook.save(book)
    translated = read_sheet(book)
    done = everystage("translations", "import", "--config", str(config), str(book))
    assert done.returncode == 0, done.stderr
    again = tmp_path / "again.xlsx"
    done = everystage(
        "translations",
        "export",
        "--config",
        str(config),
        "--format",
        "xlsx",
        "--output",
        str(again),
    )
    assert done.returncode == 0, done.stderr
    assert read_sheet(again) == translated
    settings = load_settings(config)
    assert settings.localized("pl").consent.text.startswith("= PL Before we start")
    assert everystage("check-config", "--config", str(config)).stdout.count("pl 100%") == 1


def test_buttons_and_the_answered_mark_read_in_the_persons_language(tmp_path: Path) -> None:
    from bot.keyboards import answered_text, prompt_keyboard, prompt_text
    from bot.texts import Texts
    from conversations.engine import Prompt, Record

    settings = load_settings(write(tmp_path, CONFIG))
    texts = Texts.load("pl")
    where = settings.localized("pl").checkins[0].questions[0]
    prompt = Prompt(question=where, step=0, number=1, total=2)
    keyboard = prompt_keyboard(texts, prompt)
    assert keyboard is not None
    assert [row[0].text for row in keyboard.inline_keyboard][:2] == ["Godziny", "Personel"]
    assert "Co trzeba zmienić?" in prompt_text(texts, prompt)
    record = Record("where", "choice", where.pressed(1).value)  # type: ignore[union-attr]
    assert record.value == "Staff"
    assert answered_text(texts, "Co trzeba zmienić?", record, where).endswith("Personel")
    assert answered_text(texts, "What needs to change?", record).endswith("Staff")


def test_the_sheet_works_while_translations_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A coordinator adds a language and exports at once, without missing_translations; a
    half-done sheet imports, and check-config then lists what is left, at its line."""
    text = """
[project]
name = "Riverside"
stages = ["design"]
current_stage = "design"
locale = "en"
languages = ["en", "pl"]

[consent]
version = 1
text = "We keep your answers. Is that OK with you?"

[[checkins]]
id = "weekly"
title = "Weekly check-in"

  [[checkins.questions]]
  id = "week"
  kind = "scale"
  text = "How has your week been?"
  min = 1
  max = 5
  min_label = "Very hard"
  max_label = "Really good"

[safeguarding]
phrases = {}
"""
    config = write(tmp_path, text)
    assert problems(config)  # untranslated: not ready to run
    sheet = tmp_path / "texts.csv"
    assert main(["translations", "export", "--config", str(config), "--output", str(sheet)]) == 0
    table = read_sheet(sheet)
    polish = table[0].index("pl")
    week = next(row for row in table if row[0] == "checkins.weekly.questions.week.text")
    week[polish] = "Jak minął Ci tydzień?"
    with sheet.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(table)
    assert main(["translations", "import", "--config", str(config), str(sheet)]) == 0
    assert 'text = { en = "How has your week been?", pl = "Jak minął Ci tydzień?" }' in (
        config.read_text(encoding="utf-8")
    )
    left = problems(config)
    assert not any('question "week", text:' in problem for problem in left)
    assert any('question "week", min_label:' in problem for problem in left)
