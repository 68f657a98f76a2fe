"""check-config never tracebacks: generated configs give Settings or FILE:LINE problems.

Configs are made by mutating config.example.toml's data (replacing, deleting and inserting values
of every TOML type at random key paths, in the main file and in an included prompts file),
written back as TOML, and loaded the way ``everystage check-config`` loads them.
Set CONFIG_FUZZ_EXAMPLES to run many more examples locally.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.settings import ConfigError, Settings, load_settings
from bot.texts import available
from tests.conftest import EXAMPLE as ENGLISH_EXAMPLE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ENGLISH_EXAMPLE  # the example in English alone (tests/conftest.py)
BASE: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())
EXAMPLES = int(os.environ.get("CONFIG_FUZZ_EXAMPLES", "300"))

# ---------------------------------------------------------------------------------------------
# A small TOML writer: top-level tables as [headers], arrays of tables as [[headers]] (one level
# of [[a.b]] inside them, like [[checkins.questions]]), everything else inline.

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _string(text: str) -> str:
    # JSON escapes every control character TOML forbids in a basic string except DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"


def _tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def to_toml(doc: dict[str, Any]) -> str:
    # Plain keys first: after the first [header] every key belongs to a table.
    lines = [
        f"{_key(k)} = {_value(v)}"
        for k, v in doc.items()
        if not isinstance(v, dict) and not _tables(v)
    ]
    for name, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{_key(name)}]")
            lines += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
        elif _tables(value):
            for table in value:
                lines.append(f"[[{_key(name)}]]")
                lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items() if not _tables(v)]
                for sub, items in ((k, v) for k, v in table.items() if _tables(v)):
                    for item in items:
                        lines.append(f"[[{_key(name)}.{_key(sub)}]]")
                        lines += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Generated values and mutations.

# Strings that get past the first checks and reach deeper ones. No "/" anywhere, so an include
# pattern can only ever match files in the test's own folder.
INTERESTING = [
    "",
    " ",
    "choice",
    "multi",
    "scale",
    "yesno",
    "text",
    "reflection",
    "weekly",
    "after_joining",
    "stage_entry",
    "random_daily",
    "design",
    "delivery",
    "week",
    "mon",
    "10:00",
    "25:61",
    "99999999999999999999:00",
    "en",
    "fr",
    "Europe",
    "UTC",
    "skip",
    "*",
    "*.toml",
    "extra.toml",
    "..",
    "é" * 70,
]
UNKNOWN_KEYS = [
    "_env_prefix",
    "_env_file",
    "_secrets_dir",
    "_case_sensitive",
    "_cli_parse_args",
    "_env_nested_delimiter",
    "_build_sources",
    "nonsense",
]
KNOWN_KEYS = [
    "id",
    "kind",
    "text",
    "title",
    "options",
    "stages",
    "show_if",
    "question",
    "equals",
    "any_of",
    "min",
    "max",
    "schedule",
    "time",
    "days",
    "window",
    "questions",
    "checkins",
    "include",
    "prompts",
    "locale",
    "token",
    "current_stage",
    "stage_messages",
]

texts = st.text(
    st.characters(codec="utf-8", exclude_characters="/"), max_size=12
) | st.sampled_from(INTERESTING)
keys = texts | st.sampled_from(KNOWN_KEYS + UNKNOWN_KEYS)
scalars = st.one_of(
    texts,
    st.integers(-3, 12),
    st.integers(-(10**30), 10**30),
    st.sampled_from([2**63, -(2**63) - 1, 10**100]),
    st.floats(),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)

# Most mutations land at or under one of these keys, the rest anywhere in the document.
FOCUS = [
    "checkins",
    "questions",
    "kind",
    "schedule",
    "show_if",
    "options",
    "stages",
    "safeguarding",
    "coordinators",
    "nudges",
    "digest",
    "prompts",
    "include",
    "project",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            found += _paths(child, (*prefix, key))
    return found


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        focus = draw(st.sampled_from([None, *FOCUS]))
        near = [p for p in paths if focus in p] if focus else []
        path = draw(st.sampled_from(near or paths))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        node = _at(doc, path)
        if action == "insert" and isinstance(node, dict):
            node[draw(keys)] = draw(values)
        elif action == "insert" and isinstance(node, list):
            node.insert(draw(st.integers(0, len(node))), draw(values))
        elif path:  # the document itself must stay a table
            parent = _at(doc, path[:-1])
            if action == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(values)
    return doc


@st.composite
def configs(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """File name -> document: config.toml, and sometimes an included extra.toml."""
    main_doc = copy.deepcopy(BASE)
    files = {"config.toml": main_doc}
    if draw(st.booleans()):
        checkin = draw(st.sampled_from(BASE["checkins"]))
        extra = {"checkins": [{**copy.deepcopy(checkin), "id": "extra"}]}
        files["extra.toml"] = draw(mutated(extra)) if draw(st.booleans()) else extra
        main_doc["prompts"] = {
            "include": draw(
                st.sampled_from([["extra.toml"], ["*.toml"], ["extra.toml", "missing.toml"]])
            )
        }
    files["config.toml"] = draw(mutated(main_doc))
    return files


def write(folder: str, files: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Write the files; return each file's path and its number of lines."""
    written = {}
    for name, doc in files.items():
        text = to_toml(doc)
        path = Path(folder, name)
        path.write_text(text, encoding="utf-8")
        written[str(path)] = text.count("\n")
    return written


def assert_located(problems: list[Any], written: dict[str, int]) -> None:
    assert problems
    for problem in problems:
        if problem.file.startswith("environment "):  # set where the tests run
            assert problem.line == 0, problem
        else:
            assert problem.file in written, problem
            assert 1 <= problem.line <= written[problem.file], problem
        assert problem.key and problem.message.strip(), problem


# ---------------------------------------------------------------------------------------------
# Properties.


@settings(max_examples=50, deadline=None)
@given(doc=mutated(BASE))
def test_the_writer_round_trips(doc: dict[str, Any]) -> None:
    parsed = tomllib.loads(to_toml(doc))
    # As JSON, so that NaN compares equal to NaN.
    assert json.dumps(parsed, default=str, sort_keys=True) == json.dumps(
        doc, default=str, sort_keys=True
    )


@settings(max_examples=EXAMPLES, deadline=None)
@given(files=configs())
def test_any_config_loads_or_lists_located_problems(files: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        written = write(folder, files)
        try:
            loaded = load_settings(Path(folder, "config.toml"))
        except ConfigError as exc:
            assert_located(exc.problems, written)
        else:
            assert isinstance(loaded, Settings)


@settings(
    max_examples=max(EXAMPLES // 4, 10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # capsys is read every run
)
@given(files=configs())
def test_check_config_exits_0_or_2(
    files: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        written = write(folder, files)
        code = main(["check-config", "--config", str(Path(folder, "config.toml"))])
        out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out + err
    if code == 0:
        assert out.startswith(f"{Path(folder, 'config.toml')}: OK")
    else:
        *problems, total = err.splitlines()
        assert total == f"{len(problems)} problem(s) found."
        for line in problems:
            if not line.startswith("environment "):  # set where the tests run
                assert re.match(r"^(.+?):(\d+): \S.*?: \S", line), line
                assert line.split(":", 1)[0] in written, line


# Typing mistakes: characters that matter to TOML put in, taken out or doubled anywhere in the
# text, so most of these files are not valid TOML at all.

EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
TOML_CHARACTERS = [
    '"',
    "'",
    '"""',
    "[",
    "]",
    "[[",
    "{",
    "}",
    "=",
    ",",
    "#",
    ".",
    ":",
    "\n",
    " ",
    "x",
]


@st.composite
def typed(draw: st.DrawFn) -> str:
    text = EXAMPLE_TEXT
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "double"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(TOML_CHARACTERS)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 3)) :]
        else:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            text = text[:end] + "\n" + text[start:end] + text[end:]
    return text


@settings(max_examples=EXAMPLES, deadline=None)
@given(text=typed())
def test_typing_mistakes_give_located_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "config.toml")
        path.write_text(text, encoding="utf-8")
        try:
            load_settings(path)
        except ConfigError as exc:
            assert_located(exc.problems, {str(path): len(text.split("\n"))})
            assert all("\n" not in str(problem) for problem in exc.problems)


# ---------------------------------------------------------------------------------------------
# Shapes that used to crash, and a locale that does not exist.


def problems_for(tmp_path: Path, text: str, **extra_files: str) -> list[Any]:
    for name, content in extra_files.items():
        (tmp_path / name).write_text(content)
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert main(["check-config", "--config", str(path)]) == 2
    return caught.value.problems


def edited(*edits: tuple[str, str]) -> str:
    text = EXAMPLE.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def line_with(path: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def only(problems: list[Any], key: str) -> Any:
    found = [p for p in problems if p.key == key]
    assert len(found) == 1, problems
    return found[0]


def test_a_list_as_a_question_kind(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, edited(('kind = "yesno"', 'kind = ["yesno"]')))
    problem = only(problems, 'check-in "weekly", question "listened", kind')
    assert problem.message == 'must be text, like kind = "choice"'
    assert problem.line == line_with(tmp_path / "config.toml", 'kind = ["yesno"]')


def test_a_list_as_a_schedule_kind(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, edited(('{ kind = "weekly"', '{ kind = ["weekly"]')))
    assert only(problems, 'check-in "weekly", schedule number 1, kind').message == (
        'must be text, like kind = "weekly"'
    )


def test_a_list_as_the_kind_of_a_question_show_if_depends_on(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, edited(('kind = "scale"', "kind = [1]")))
    assert [p.key for p in problems] == ['check-in "weekly", question "week", kind']


def test_nested_lists_in_options(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, edited(('"Drop-in", "Key worker"', '["Drop-in"], "Key"')))
    problem = only(problems, 'check-in "weekly", question "used", options[0]')
    assert problem.message == 'each option is text in quotes, like "Yes"'
    assert problem.line == line_with(tmp_path / "config.toml", '["Drop-in"], "Key"')


def test_nested_lists_and_tables_in_stages(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        edited(
            ('stages = ["design", "delivery", "commissioning"', 'stages = [["design"], {a = 1}'),
            ('stages = ["design"]', 'stages = [["design"], ["design"], { name = "x" }]'),
        ),
    )
    for key in (
        "project.stages[0]",
        "project.stages[1]",
        'check-in "design-reflection", stages[0]',
    ):
        assert only(problems, key).message == 'each stage is a name in quotes, like "design"'
    config = tmp_path / "config.toml"
    problem = only(problems, 'check-in "design-reflection", stages[2]')
    assert problem.line == line_with(config, '{ name = "x" }')


def test_a_table_as_the_current_stage_and_a_stage_message(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        edited(
            ('current_stage = "design"', "current_stage = { a = [1] }"),
            ('design = "We are deciding', 'design = ["We are deciding"]\nx = "We are deciding'),
        ),
    )
    assert "text" in only(problems, "project.current_stage").message
    assert "'x' is not one of the stages" in only(problems, "project.stage_messages.x").message
    assert "text" in only(problems, "project.stage_messages.design").message


def test_includes_that_are_not_file_names(tmp_path: Path) -> None:
    text = edited(("# [prompts]\n# include = [", '[prompts]\ninclude = [1, ["a"], { b = 2 }, '))
    problems = problems_for(tmp_path, text)
    for index in range(3):
        problem = only(problems, f"prompts.include[{index}]")
        assert problem.message.startswith("each entry is a file name or pattern in quotes")
    assert "'prompts/*.toml' matches no file" in only(problems, "prompts.include").message


def test_included_files_whose_checkins_are_not_tables(tmp_path: Path) -> None:
    text = edited(
        ('# [prompts]\n# include = ["prompts/*.toml"]', '[prompts]\ninclude = ["*-x.toml"]')
    )
    problems = problems_for(
        tmp_path,
        text,
        **{"a-x.toml": '[checkins]\nid = "a"\n', "b-x.toml": 'checkins = [1, "two"]\n'},
    )
    table = next(p for p in problems if p.file.endswith("a-x.toml"))
    assert (table.line, table.key) == (1, "checkins")
    assert "[[checkins]]" in table.message
    not_tables = [p for p in problems if p.file.endswith("b-x.toml")]
    assert len(not_tables) == 2 and all("[[checkins]]" in p.message for p in not_tables)


def test_an_included_folder_is_named_at_the_include_line(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    text = edited(
        ('# [prompts]\n# include = ["prompts/*.toml"]', '[prompts]\ninclude = ["prompts"]')
    )
    [problem] = problems_for(tmp_path, text)
    assert (problem.key, problem.line) == (
        "prompts.include",
        line_with(tmp_path / "config.toml", "include ="),
    )
    assert (
        problem.message
        == "'prompts' matches only folders; for the files in a folder write 'prompts/*.toml'"
    )


def test_a_pattern_that_matches_the_config_itself_and_a_file_twice(tmp_path: Path) -> None:
    (tmp_path / "extra.toml").write_text(
        '[[checkins]]\nid = "extra"\ntitle = "Extra"\n\n'
        '[[checkins.questions]]\nid = "q"\nkind = "yesno"\ntext = "Well?"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(
        edited(
            (
                '# [prompts]\n# include = ["prompts/*.toml"]',
                '[prompts]\ninclude = ["*.toml", "extra.toml"]',
            )
        )
    )
    assert [c.id for c in load_settings(path).checkins] == [
        *(c["id"] for c in BASE["checkins"]),
        "extra",
    ]


def test_a_huge_scale_that_show_if_depends_on(tmp_path: Path) -> None:
    problems = problems_for(tmp_path, edited(("max = 5", "max = 100000000000000000000000")))
    problem = only(problems, 'check-in "weekly", question "week", max')
    assert "at most 11 points" in problem.message
    assert problem.line == line_with(tmp_path / "config.toml", "max = 1000")


@pytest.mark.parametrize(
    ("old", "key"),
    [
        ('time = "10:00"', 'check-in "weekly", schedule number 1, time'),
        ('window = ["10:00"', 'check-in "pulse", schedule number 1, window'),
        ('time = "09:00"', "digest.time"),
        ('quiet_hours = ["21:00"', "nudges.quiet_hours"),
    ],
)
def test_a_huge_hour_is_not_a_time_of_day(tmp_path: Path, old: str, key: str) -> None:
    huge = "99999999999999999999:00"
    problems = problems_for(tmp_path, edited((old, old.replace(old[-6:-1], huge))))
    assert only(problems, key).message == f"'{huge}' is not a time of day like '09:30'"


@pytest.mark.parametrize("zone", ["Europe", "Europe/" + "x" * 300])
def test_a_folder_or_overlong_name_is_not_a_time_zone(tmp_path: Path, zone: str) -> None:
    problems = problems_for(
        tmp_path, edited(('timezone = "Europe/London"', f'timezone = "{zone}"'))
    )
    assert "is not a time zone name" in only(problems, "project.timezone").message


def test_settings_of_the_loader_itself_are_unknown_keys(tmp_path: Path) -> None:
    text = '_env_prefix = 5\n_cli_parse_args = true\n_secrets_dir = "."\n' + EXAMPLE.read_text()
    problems = problems_for(tmp_path, text)
    for line, key in enumerate(["_env_prefix", "_cli_parse_args", "_secrets_dir"], 1):
        problem = only(problems, key)
        assert problem.line == line and "not a setting Everystage knows" in problem.message


def test_arrays_nested_too_deeply_for_the_parser(tmp_path: Path) -> None:
    [problem] = problems_for(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert problem.key == "(syntax)" and "nested" in problem.message


def test_a_line_break_in_a_value_keeps_each_problem_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(edited(('timezone = "Europe/London"', 'timezone = "Europe/\\nLondon"')))
    assert main(["check-config", "--config", str(path)]) == 2
    [problem, total] = capsys.readouterr().err.splitlines()
    line = line_with(path, "timezone = ")
    assert problem.startswith(f"{path}:{line}: project.timezone: 'Europe/\\nLondon' is not")
    assert total == "1 problem(s) found."


def test_line_separators_inside_strings_do_not_shift_line_numbers(tmp_path: Path) -> None:
    problems = problems_for(
        tmp_path,
        edited(
            ('title = "Weekly check-in"', 'title = "Weekly\u2028check-in\x85"'),
            ('kind = "multi"', 'kind = "slider"'),
        ),
    )
    problem = only(problems, 'check-in "weekly", question "used", kind')
    # The question's kind = line, counting only real line breaks.
    lines = (tmp_path / "config.toml").read_text().split("\n")
    assert lines[problem.line - 1].strip() == 'kind = "slider"'


def test_a_list_in_the_environment_that_is_not_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVERYSTAGE_PROJECT__STAGES", "[design")
    assert main(["check-config", "--config", str(EXAMPLE)]) == 2
    [problem, _total] = capsys.readouterr().err.splitlines()
    assert problem.startswith("environment EVERYSTAGE_PROJECT__STAGES: project: cannot be read")


def test_wrong_entries_in_an_environment_list_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVERYSTAGE_PROJECT__STAGES", '["design", ["delivery"]]')
    with pytest.raises(ConfigError) as caught:
        load_settings(EXAMPLE)
    problem = only(caught.value.problems, "project.stages[1]")
    assert (problem.file, problem.line) == ("environment EVERYSTAGE_PROJECT__STAGES", 0)


def test_a_locale_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "fr" not in available()
    problems = problems_for(tmp_path, edited(('locale = "en"', 'locale = "fr"')))
    problem = only(problems, "project.locale")
    assert problem.message == (
        f"'fr' is not a language Everystage has; available: {', '.join(available())}"
    )
    config = tmp_path / "config.toml"
    assert problem.line == line_with(config, 'locale = "fr"')
    capsys.readouterr()
    main(["check-config", "--config", str(config)])
    assert (
        f"{config}:{problem.line}: project.locale: 'fr' is not a language"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("locale", available())
def test_every_locale_there_is_passes(tmp_path: Path, locale: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(edited(('locale = "en"', f'locale = "{locale}"')))
    assert load_settings(path).project.locale == locale
