"""What a coordinator sees from `everystage check-config`, line by line.

Each test breaks config.example.toml the way a person might, runs check-config, and compares the
exact lines it prints: FILE:LINE: key: what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import load_settings
from conversations.model import QUESTION_KINDS
from tests.conftest import EXAMPLE as ENGLISH_EXAMPLE
from tests.conftest import everystage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ENGLISH_EXAMPLE  # the example in English alone (tests/conftest.py)
RESOURCES = re.compile(r"\n *\[\[safeguarding\.resources\]\]\n( +\S.*\n)+")


def edited(*edits: tuple[str, str], text: str | None = None) -> str:
    text = EXAMPLE.read_text(encoding="utf-8") if text is None else text
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


class Checked:
    """A config written to a file and checked; ``lines`` are the problems as printed."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
        self.path = tmp_path / "config.toml"
        self.path.write_text(text, encoding="utf-8")
        self.text = text
        capsys.readouterr()
        code = main(["check-config", "--config", str(self.path)])
        out, err = capsys.readouterr()
        assert code == 2, out
        *self.lines, total = err.splitlines()
        assert total == f"{len(self.lines)} problem(s) found."

    def line(self, fragment: str, nth: int = 1) -> int:
        """The number of the ``nth`` line of the file holding ``fragment``."""
        found = [n for n, line in enumerate(self.text.split("\n"), 1) if fragment in line]
        return found[nth - 1]

    def at(self, fragment: str, key_and_message: str, nth: int = 1) -> str:
        """A problem as printed, on the line holding ``fragment``."""
        return f"{self.path}:{self.line(fragment, nth)}: {key_and_message}"


@pytest.fixture
def check(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    return lambda text: Checked(tmp_path, capsys, text)


# ---------------------------------------------------------------------------------------------
# Check-ins and questions go by their id, and each problem is on its key's own line.


def test_questions_are_named_by_check_in_and_question_id(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("max = 5", 'max = "5"')))
    assert found.lines == [
        found.at(
            'max = "5"',
            'check-in "weekly", question "week", max: '
            "must be a whole number without quotes, like max = 5",
        )
    ]


def test_a_question_without_a_usable_id_goes_by_its_number(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('  id = "hard-part"\n', "")))
    assert found.lines == [
        found.at(
            "[[checkins.questions]]",
            'check-in "weekly", question number 2, id: '
            'is missing; add id = "..." under [[checkins.questions]]',
            nth=2,
        )
    ]


def test_check_ins_that_share_an_id_go_by_their_number(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('id = "pulse"', 'id = "weekly"')))
    assert found.lines == [
        found.at(
            'id = "weekly"',
            "check-in number 3, id: 'weekly' is already the id of check-in number 1; "
            "give each check-in its own id",
            nth=2,
        )
    ]


def test_a_scale_that_does_not_fit_is_reported_at_its_max(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("max = 5", "max = 1")))
    assert found.lines == [
        found.at(
            "max = 1",
            'check-in "weekly", question "week", max: min (1) must be smaller than max (1)',
        )
    ]


def test_a_key_of_a_question_is_reported_on_its_own_line(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('min_label = "Very hard"', "min_label = 1")))
    assert found.lines == [
        found.at(
            "min_label = 1",
            'check-in "weekly", question "week", min_label: '
            'must be text in quotes, like min_label = "..."',
        )
    ]


def test_an_entry_of_a_list_over_several_lines_is_reported_on_its_own_line(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("delay_hours = 2", "delay_hours = -1")))
    assert found.lines == [
        found.at(
            "delay_hours = -1",
            'check-in "design-reflection", schedule number 2, delay_hours: must be at least 0',
        )
    ]


def test_a_key_of_a_support_resource_is_reported_on_its_own_line(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('hours = "8am to 8pm weekdays', 'hours = 8\nx = "8am to 8pm weekdays')))
    assert found.lines == [
        found.at(
            "hours = 8",
            'safeguarding.resources[1].hours: must be text in quotes, like hours = "..."',
        ),
        found.at(
            'x = "8am',
            "safeguarding.resources[1].x: is not a setting Everystage knows; "
            "the settings here are name, contact and hours",
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Misspelt keys.


def test_a_misspelt_key_suggests_the_right_one(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("  follow_up = ", "  folow_up = ")))
    assert found.lines == [
        found.at(
            "folow_up = ",
            'check-in "design-reflection", question "first-contact", folow_up: '
            "is not a setting Everystage knows; did you mean follow_up?",
        )
    ]


def test_a_key_of_another_kind_of_question_says_which_kind_has_it(check) -> None:  # type: ignore[no-untyped-def]
    found = check(
        edited(
            (
                'text = "Anything else you want the team to hear? Type it or send a voice note."',
                'text = "Anything else?"\n  follow_up = "Tell us more?"',
            )
        )
    )
    assert found.lines == [
        found.at(
            "follow_up = ",
            'check-in "weekly", question "anything-else", follow_up: '
            "is not used by a text question; follow_up is only for reflection questions",
        )
    ]


def test_a_misspelt_table_suggests_the_right_one(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("[digest]\n", "[digset]\n")))
    assert found.lines == [
        found.at(
            "[digset]",
            "digset: is not a setting Everystage knows; did you mean digest?",
        )
    ]


def test_a_misspelt_kind_suggests_the_right_one(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('kind = "multi"', 'kind = "mutli"')))
    assert found.lines == [
        found.at(
            'kind = "mutli"',
            'check-in "weekly", question "used", kind: unknown question kind \'mutli\'; '
            f"did you mean multi? The kinds are {', '.join(QUESTION_KINDS)}",
        )
    ]


# ---------------------------------------------------------------------------------------------
# TOML syntax: what to do, at the right line.


@pytest.mark.parametrize(
    ("old", "new", "at", "message"),
    [
        (
            'name = "Riverside Pathways: housing and recovery service redesign"',
            "name = Riverside",
            "name = Riverside",
            'a text value needs quotes on both sides, like name = "Riverside"',
        ),
        (
            'time = "09:00"',
            "time = 09:00",
            "time = 09:00",
            'a text value needs quotes on both sides, like time = "09:00"',
        ),
        (
            "rate_limit = true",
            "rate_limit = True",
            "rate_limit = True",
            "true and false are written in small letters, like rate_limit = true",
        ),
        (
            'name = "Riverside Pathways: housing and recovery service redesign"',
            "name = “Riverside”",
            "name = “Riverside”",
            'these are curly quotes, which word processors make; use straight quotes ("), '
            'like name = "Riverside"',
        ),
        (
            'locale = "en"',
            'locale = "en',
            'locale = "en',
            'this text has no closing quote; end it with " on the same line, or use """ at '
            "both ends for text over several lines",
        ),
        (
            "[consent]\n",
            "[consent\n",
            "[consent",
            "a table header needs ] at its end, like [consent]",
        ),
        (
            "[[checkins]]\n",
            "[[checkins]\n",
            "[[checkins]",
            "this header needs ]] at its end, like [[checkins]]",
        ),
        (
            'stages = ["design", "delivery", "commissioning", "evaluation"]\n',
            'stages = ["design", "delivery", "commissioning", "evaluation"\n',
            'stages = ["design", "delivery", "commissioning", "evaluation"',
            'this list needs ] at its end and a comma between its entries, like ["mon", "thu"]',
        ),
        (
            'days = ["mon"], time',
            'days = ["mon" "thu"], time',
            'days = ["mon" "thu"]',
            'this list needs ] at its end and a comma between its entries, like ["mon", "thu"]',
        ),
        (
            '{ kind = "stage_entry", delay_hours = 2 }',
            '{ kind = "stage_entry",\n    delay_hours = 2 }',
            '{ kind = "stage_entry",',
            "a table in { } must be on one line, with a comma between its entries and } at its "
            'end, like { kind = "weekly", time = "10:00" }',
        ),
        (
            "level = ",
            "level: ",
            "level: ",
            'write = between a key and its value, not :, like level = "..."',
        ),
    ],
)
def test_a_syntax_error_says_what_to_do(  # type: ignore[no-untyped-def]
    check, old: str, new: str, at: str, message: str
) -> None:
    found = check(edited((old, new)))
    assert found.lines == [found.at(at, f"(syntax): {message}")]


def test_a_key_set_twice_names_the_line_of_the_first(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('locale = "en"', 'locale = "en"\nlocale = "fr"')))
    first = found.line('locale = "en"')
    assert found.lines == [
        found.at(
            'locale = "fr"', f"(syntax): this key is already set on line {first}; keep one of them"
        )
    ]


def test_a_table_started_twice_names_the_line_of_the_first(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(("[logging]\n", '[digest]\nweekday = "tue"\n\n[logging]\n')))
    first = found.line("[digest]")
    assert found.lines == [
        found.at(
            "[digest]",
            f"(syntax): this table is already started on line {first}; put all its settings "
            "under that one header",
            nth=2,
        )
    ]


def test_text_over_several_lines_that_never_ends_is_shown_where_it_starts(check) -> None:  # type: ignore[no-untyped-def]
    found = check('[project]\nname = "x"\n\n[consent]\ntext = """\nWe keep your answers.\n')
    assert found.lines == [
        found.at(
            'text = """', '(syntax): this text starts with """ but never ends; add """ at its end'
        )
    ]


# ---------------------------------------------------------------------------------------------
# Missing and wrong values, with an example of the right one.


def test_missing_consent_text_says_what_to_add(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('text = """\nBefore we start', 'txt = """\nBefore we start')))
    assert found.lines == [
        found.at("[consent]", 'consent.text: is missing; add text = """...""" under [consent]'),
        found.at(
            'txt = """',
            "consent.txt: is not a setting Everystage knows; did you mean text?",
        ),
    ]


def test_a_missing_consent_table_says_what_to_add(check) -> None:  # type: ignore[no-untyped-def]
    text = edited(
        text=re.sub(r"\[consent\][\s\S]*?(?=\n# What each stage)", "", EXAMPLE.read_text())
    )
    found = check(text)
    assert found.lines == [
        f'{found.path}:1: consent.text: is missing; add text = """...""" in a [consent] table'
    ]


@pytest.mark.parametrize(
    ("old", "new", "key_and_message"),
    [
        (
            "reminders_after_hours = [24, 48]",
            "reminders_after_hours = 24",
            "nudges.reminders_after_hours: must be a list of hours, "
            "like reminders_after_hours = [24]",
        ),
        (
            'quiet_hours = ["21:00", "09:00"]',
            'quiet_hours = "21:00"',
            'nudges.quiet_hours: must be two times of day, like quiet_hours = ["21:00", "09:00"]',
        ),
        (
            "user_ids = [111111111]",
            "user_ids = 111111111",
            "coordinators.user_ids: must be a list of Telegram user ids (numbers), "
            "like user_ids = [111111111]",
        ),
        (
            "# chat_id = -1001234567890",
            'chat_id = "team"',
            "coordinators.chat_id: must be a whole number, like chat_id = -1001234567890",
        ),
        (
            "retention_days = 730",
            'retention_days = "two years"',
            "storage.retention_days: must be a whole number, like retention_days = 730",
        ),
        (
            'stages = ["design"]',
            'stages = "design"',
            'check-in "design-reflection", stages: must be a list of stage names, '
            'like stages = ["design", "delivery"]',
        ),
        (
            'weekday = "mon"',
            'weekday = "monday"',
            "digest.weekday: must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'; "
            "did you mean 'mon'?",
        ),
        (
            "max_file_mb = 20",
            "max_file_mb = 50",
            "storage.max_file_mb: must be at most 20",
        ),
    ],
)
def test_a_wrong_value_shows_a_right_one(  # type: ignore[no-untyped-def]
    check, old: str, new: str, key_and_message: str
) -> None:
    found = check(edited((old, new)))
    changed = new.split("\n")[-1]
    assert found.lines == [found.at(changed, key_and_message)]


def test_a_wrong_schedule_value_in_an_inline_table(check) -> None:  # type: ignore[no-untyped-def]
    found = check(edited(('days = ["mon"], time', 'days = "mon", time')))
    assert found.lines == [
        found.at(
            'days = "mon"',
            'check-in "weekly", schedule number 1, days: must be a list of days, '
            'like days = ["mon", "thu"]',
        )
    ]


# ---------------------------------------------------------------------------------------------
# Numbers and true/false in quotes: refused in the file, read from the environment.


@pytest.mark.parametrize(
    ("old", "new", "key_and_message"),
    [
        (
            "min_group_size = 3",
            'min_group_size = "3"',
            "digest.min_group_size: must be a whole number without quotes, like min_group_size = 3",
        ),
        (
            "version = 1",
            'version = "2"',
            "consent.version: must be a whole number without quotes, like version = 2",
        ),
        (
            "expire_after_hours = 96",
            'expire_after_hours = "96"',
            "nudges.expire_after_hours: must be a number without quotes, "
            "like expire_after_hours = 96",
        ),
        (
            "share_text_in_alerts = false",
            'share_text_in_alerts = "no"',
            "safeguarding.share_text_in_alerts: must be true or false without quotes, "
            "like share_text_in_alerts = false",
        ),
        (
            'text = "Did staff listen to you this week?"',
            'text = "Did staff listen to you this week?"\n  required = "yes"',
            'check-in "weekly", question "listened", required: must be true or false without '
            "quotes, like required = true",
        ),
        (
            "user_ids = [111111111]",
            'user_ids = ["111111111"]',
            "coordinators.user_ids[0]: each entry must be a whole number without quotes, "
            "like 111111111",
        ),
        (
            "minutes = 3",
            "minutes = true",
            'check-in "weekly", minutes: must be a whole number, like minutes = 5',
        ),
    ],
)
def test_numbers_and_true_or_false_in_quotes_are_refused(  # type: ignore[no-untyped-def]
    check, old: str, new: str, key_and_message: str
) -> None:
    found = check(edited((old, new)))
    changed = new.split("\n")[-1]
    assert found.lines == [found.at(changed, key_and_message)]


def test_numbers_and_true_or_false_from_the_environment_are_read_from_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVERYSTAGE_DIGEST__MIN_GROUP_SIZE", "5")
    monkeypatch.setenv("EVERYSTAGE_CONSENT__VERSION", "2")
    monkeypatch.setenv("EVERYSTAGE_NUDGES__EXPIRE_AFTER_HOURS", "12.5")
    monkeypatch.setenv("EVERYSTAGE_SAFEGUARDING__SHARE_TEXT_IN_ALERTS", "true")
    monkeypatch.setenv("EVERYSTAGE_COORDINATORS__CHAT_ID", "-100123")
    monkeypatch.setenv("EVERYSTAGE_COORDINATORS__USER_IDS", "[1, 2]")
    settings = load_settings(EXAMPLE)
    assert settings.digest.min_group_size == 5
    assert settings.consent.version == 2
    assert settings.nudges.expire_after_hours == 12.5
    assert settings.safeguarding.share_text_in_alerts is True
    assert settings.coordinators.chat_id == -100123
    assert settings.coordinators.user_ids == [1, 2]


def test_the_environment_wins_over_a_quoted_number_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(edited(("min_group_size = 3", 'min_group_size = "3"')))
    monkeypatch.setenv("EVERYSTAGE_DIGEST__MIN_GROUP_SIZE", "4")
    assert load_settings(path).digest.min_group_size == 4


# ---------------------------------------------------------------------------------------------
# Safeguarding phrases need somewhere to send people.

NO_HELPLINE = (
    "safeguarding.resources: none are listed, so a person whose message matches a safeguarding "
    "phrase would be offered no helpline; add at least one under [safeguarding], like "
    '[[safeguarding.resources]] with name = "Samaritans", contact = "116 123" and hours = "24/7"'
)


def test_phrases_without_resources_are_an_error_at_the_phrases(check) -> None:  # type: ignore[no-untyped-def]
    text = RESOURCES.sub("\n", EXAMPLE.read_text())
    assert "[[safeguarding.resources]]" not in text
    found = check(text)
    assert found.lines == [found.at("[safeguarding.phrases]", NO_HELPLINE)]


def test_the_built_in_phrases_without_resources_are_an_error_at_the_table(check) -> None:  # type: ignore[no-untyped-def]
    text = RESOURCES.sub("\n", EXAMPLE.read_text())
    text = re.sub(r"\[safeguarding\.phrases\][\s\S]*?(?=\n# The weekly digest)", "", text)
    found = check(text)
    assert found.lines == [found.at("[safeguarding]", NO_HELPLINE)]


def test_no_phrases_need_no_resources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = RESOURCES.sub("\n", EXAMPLE.read_text())
    text = re.sub(r"\[safeguarding\.phrases\][\s\S]*?(?=\n# The weekly digest)", "", text)
    path = tmp_path / "config.toml"
    path.write_text(text.replace("[safeguarding]\n", "[safeguarding]\nphrases = {}\n"))
    assert main(["check-config", "--config", str(path)]) == 0
    assert (
        "Safeguarding: no phrases, so messages are not screened; 0 support resources; "
        "people's words never shown in alerts"
    ) in capsys.readouterr().out.splitlines()


def test_resources_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(RESOURCES.sub("\n", EXAMPLE.read_text()))
    monkeypatch.setenv(
        "EVERYSTAGE_SAFEGUARDING__RESOURCES", '[{"name": "Samaritans", "contact": "116 123"}]'
    )
    assert [r.name for r in load_settings(path).safeguarding.resources] == ["Samaritans"]


def test_the_summary_describes_safeguarding(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert (
        "Safeguarding: 32 phrases in 5 groups; 4 support resources; "
        "people's words never shown in alerts"
    ) in capsys.readouterr().out.splitlines()


# ---------------------------------------------------------------------------------------------
# Warnings: a config that works, with texts that read hard (bot/readability.py).

HARD = (
    "Participation necessitates acknowledgement of organisational information-processing"
    " responsibilities, notwithstanding confidentiality considerations."
)
WARNING = "reads hard (Flesch {}): shorter sentences help"


async def test_check_config_warns_about_texts_that_read_hard(tmp_path: Path) -> None:
    """The real command, on a config and a prompts file it includes: each hard text on its line,
    a warning only (exit 0)."""
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "extra.toml").write_text(
        '[[checkins]]\nid = "extra"\ntitle = "Extra"\n\n'
        '  [[checkins.questions]]\n  id = "why"\n  kind = "text"\n'
        f'  text = "{HARD}"\n',
        encoding="utf-8",
    )
    text = edited(
        ('design = "We are deciding', f'design = "{HARD} We are deciding'),
        ("# [prompts]\n# include", "[prompts]\ninclude"),
    )
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = await everystage("check-config", "--config", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{path}: OK"
    assert "2 warning(s): texts people read (Flesch reading ease; aim for 70 or more):" in lines
    design_line = text.splitlines().index(
        next(line for line in text.splitlines() if line.startswith("design = "))
    )
    design = next(line for line in lines if "stage_messages.design" in line)
    assert re.fullmatch(
        rf"{re.escape(str(path))}:{design_line + 1}: project\.stage_messages\.design: "
        + WARNING.format(r"-?\d+").replace("(", r"\(").replace(")", r"\)"),
        design,
    ), design
    extra = str(tmp_path / "prompts" / "extra.toml")
    question = next(line for line in lines if line.startswith(extra))
    assert re.fullmatch(
        rf'{re.escape(extra)}:8: check-in "extra", question "why", text: reads hard \(Flesch'
        r" -?\d+\): shorter sentences help",
        question,
    ), question


def test_the_example_config_has_no_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert "warning" not in capsys.readouterr().out


def test_a_text_of_six_words_is_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        edited(
            (
                'closing = "Thanks. 👍"',
                'closing = "Organisational confidentiality acknowledgement appreciated."',
            )
        ),
        encoding="utf-8",
    )
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().out
