"""`everystage check-config` and settings: summaries, FILE:LINE errors, env overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ConfigError, load_settings
from tests.conftest import EXAMPLE as ENGLISH_EXAMPLE
from tests.conftest import SHIPPED_EXAMPLE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ENGLISH_EXAMPLE  # the example in English alone (tests/conftest.py)


def broken_copy(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = EXAMPLE.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "broken.toml"
    path.write_text(text)
    return path


def line_with(path: Path, fragment: str, nth: int = 1) -> int:
    numbers = [n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line]
    return numbers[nth - 1]


def test_example_config_passes_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(SHIPPED_EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "design" in out and "evaluation" in out
    assert "Languages: en (default), pl 100%, ro 100%, ar 100%" in out
    assert "reads hard" not in out + capsys.readouterr().err
    assert "weekly: 6 questions" in out and "design-reflection: 1 questions" in out
    assert "4 support resources" in out and "coordinators' chat not set" in out
    assert len(out.splitlines()) < 25  # one screen


def test_every_problem_is_reported_with_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_copy(
        tmp_path,
        ("[telegram]\n", '[telegram]\ntoken = "123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789"\n'),
        ('kind = "multi"', 'kind = "slider"'),
        ('id = "listened"', 'id = "week"'),
        ("max = 5", "max = 1"),
        ('stages = ["design"]', 'stages = ["desgin"]'),
        (
            'options = ["Opening hours", "Waiting times", "How staff talk to us", '
            '"Somewhere safe to sleep", "Something else"]',
            "options = []",
        ),
        ('show_if = { question = "week"', 'show_if = { question = "nope"'),
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(str(path))]
    # Check-ins and questions go by their id; two questions with one id go by their number.
    expected = {
        "telegram.token": ("token = ", "EVERYSTAGE_TELEGRAM__TOKEN"),
        'check-in "weekly", question "used", kind': (
            'kind = "slider"',
            "unknown question kind 'slider'",
        ),
        'check-in "weekly", question number 4, id': ('id = "week"', "earlier question", 2),
        'check-in "design-reflection", stages': ('stages = ["desgin"]', "unknown stage 'desgin'"),
        'check-in "weekly", question "hard-part", show_if.question': ("show_if", "'nope'"),
        'check-in "weekly", question "change", options': (
            "options = []",
            "give at least one option",
        ),
        'check-in "weekly", question number 1, max': ("max = 1", "min (1) must be smaller"),
    }
    for key, (fragment, words, *nth) in expected.items():
        match = [line for line in lines if f": {key}: " in line]
        assert match, f"{key} not reported in:\n{err}"
        number = int(re.match(rf"{re.escape(str(path))}:(\d+):", match[0]).group(1))
        assert number == line_with(path, fragment, *nth), match[0]
        assert words in match[0]
    assert "Traceback" not in err


def test_bad_toml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[project]\nname = "x"\nstages = ["a", \n\n[consent\n')
    assert main(["check-config", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}:3: (syntax): this list needs ] at its end and a comma between its entries, "
        'like ["mon", "thu"]',
        "1 problem(s) found.",
    ]


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_environment_overrides_file_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__RETENTION_DAYS", "30")
    monkeypatch.setenv("EVERYSTAGE_TELEGRAM__API_BASE_URL", "http://127.0.0.1:9999/")
    monkeypatch.setenv("EVERYSTAGE_TELEGRAM__TOKEN", "123:secret")
    settings = load_settings(EXAMPLE)
    assert settings.storage.retention_days == 30
    assert settings.telegram.base_url == "http://127.0.0.1:9999/bot"
    assert settings.telegram.base_file_url == "http://127.0.0.1:9999/file/bot"
    assert settings.telegram.token.get_secret_value() == "123:secret"
    assert "30 days" in settings.consent_text()
    assert "secret" not in repr(settings)


def test_config_file_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVERYSTAGE_CONFIG", str(EXAMPLE))
    assert load_settings().project.stage == "design"


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__RETENTION_DAYS", "two years")
    with pytest.raises(ConfigError) as caught:
        load_settings(EXAMPLE)
    assert str(caught.value).startswith(
        "environment EVERYSTAGE_STORAGE__RETENTION_DAYS: storage.retention_days:"
    )


def test_storage_paths_are_relative_to_the_config_file() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.storage.path == ROOT / "data" / "everystage.db"
    assert settings.storage.files_path == ROOT / "data" / "files"


def test_included_prompt_files_report_their_own_lines(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "extra.toml").write_text(
        '[[checkins]]\nid = "extra"\ntitle = "Extra"\n\n'
        '  [[checkins.questions]]\n  id = "q"\n  kind = "choice"\n  text = "Pick"\n'
        "  options = []\n"
    )
    main_file = tmp_path / "config.toml"
    main_file.write_text(
        EXAMPLE.read_text().replace(
            '# [prompts]\n# include = ["prompts/*.toml"]', '[prompts]\ninclude = ["prompts/*.toml"]'
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(main_file)
    [problem] = caught.value.problems
    assert problem.file.endswith("extra.toml") and problem.line == 9
    assert problem.key == 'check-in "extra", question "q", options'

    (tmp_path / "prompts" / "extra.toml").write_text(
        (tmp_path / "prompts" / "extra.toml").read_text().replace("[]", '["A", "B"]')
    )
    assert [c.id for c in load_settings(main_file).checkins][-1] == "extra"
