"""Every question kind is registered everywhere it must be: one definition, one renderer.

A kind is a class in conversations/kinds.py and a renderer in bot/renderers.py, with its locale
text; everything else reads the registry. These tests walk the registry, so a new kind is held
to all of it without being named here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bot import settings as settings_module
from bot.cli import main
from bot.digest import fmt
from bot.keyboards import answered_text, prompt_keyboard, prompt_text
from bot.renderers import RENDERERS, renderer_for
from bot.settings import load_settings
from bot.texts import Texts, available
from conversations import engine
from conversations.kinds import KINDS, QUESTION_KINDS, Question, kind_of
from conversations.model import CheckIn
from conversations.questions import Aggregate, Cell, QuestionKind
from storage import figures
from tests.conftest import EXAMPLE

NAMES = list(KINDS)


def example(name: str, question_id: str = "q") -> dict[str, Any]:
    """A smallest question of this kind, as read from TOML."""
    return {"id": question_id, "kind": name, "text": f"A {name} question?", **KINDS[name].example}


def answered(name: str) -> tuple[QuestionKind, engine.Record]:
    """Ask a one-question check-in of this kind and answer it through its own buttons (in
    order, until one answers) or, for a question answered in words, by typing."""
    checkin = CheckIn.model_validate({"id": "c", "title": "C", "questions": [example(name)]})
    moved = engine.start(checkin)
    assert moved.prompt is not None and moved.state is not None
    prompt = moved.prompt
    if not prompt.takes_buttons:
        typed = KINDS[name].example_answer
        moved = engine.advance(checkin, moved.state, engine.Text(typed))
    else:
        rows = renderer_for(name).buttons(Texts.load(), prompt)
        for _, event in (button for row in rows for button in row):
            assert moved.state is not None
            moved = engine.advance(checkin, moved.state, event)
            assert not moved.stale and moved.hint is None, (name, event, moved)
            if moved.answered is not None:
                break
    assert moved.answered is not None, f"{name}: no button or typed answer records an answer"
    return prompt.question, moved.answered


def test_the_registry_and_the_renderers_name_the_same_kinds() -> None:
    assert set(RENDERERS) == set(KINDS)
    assert tuple(KINDS) == QUESTION_KINDS


@pytest.mark.parametrize("name", NAMES)
def test_the_model_reads_each_kind_as_its_own_class(name: str) -> None:
    cls = KINDS[name]
    assert issubclass(cls, QuestionKind) and kind_of(name) is cls
    question = TypeAdapter(Question).validate_python(example(name))
    assert type(question) is cls and question.kind == name
    assert cls.takes_buttons == (question.button_values() is not None)


@pytest.mark.parametrize("name", NAMES)
def test_each_kind_is_asked_answered_and_shown_in_every_locale(name: str) -> None:
    question, record = answered(name)
    assert record.kind == name and record.value is not None
    renderer = renderer_for(name)
    for locale in available():
        texts = Texts.load(locale)
        missing = set(renderer.keys) - texts.keys()
        assert not missing, f"{locale}.toml lacks {missing} for {name}"
        checkin = CheckIn.model_validate({"id": "c", "title": "C", "questions": [example(name)]})
        prompt = engine.start(checkin).prompt
        assert prompt is not None
        assert question.text in prompt_text(texts, prompt)
        keyboard = prompt_keyboard(texts, prompt)
        if question.takes_buttons:
            assert keyboard is not None and len(keyboard.inline_keyboard) >= 1
        assert answered_text(texts, question.text, record).startswith(question.text)
        assert renderer.words(texts, record.value, question)  # /mydata
        assert renderer.words(texts, record.value)  # once the config no longer has it


@pytest.mark.parametrize("name", NAMES)
def test_the_digest_and_exports_know_each_kind(name: str) -> None:
    cls = KINDS[name]
    assert isinstance(cls.aggregate, Aggregate) and isinstance(cls.cell, Cell)
    counted = f"'{name}'" in figures.COUNTED
    assert counted == (cls.aggregate is not Aggregate.NONE)
    assert (f"'{name}'" in figures.QUOTED) == cls.quotable
    if cls.aggregate not in (Aggregate.NONE, Aggregate.DISTRIBUTION):
        assert cls.aggregate in fmt.SUMMARIES, f"the digest cannot show {cls.aggregate}"
    question = TypeAdapter(Question).validate_python(example(name))
    assert all(isinstance(label, str) for _, label in question.buckets())


def test_every_summary_figure_reads_in_the_digest() -> None:
    with_figure = set(Aggregate) - {Aggregate.NONE, Aggregate.DISTRIBUTION}
    assert with_figure == set(fmt.SUMMARIES)


def test_check_config_accepts_every_kind_and_lists_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVERYSTAGE_STORAGE__PATH", str(tmp_path / "everystage.db"))

    def config(questions: list[dict[str, Any]]) -> Path:
        lines = ["", "[[checkins]]", 'id = "every-kind"', 'title = "Every kind"']
        for question in questions:
            lines.append("  [[checkins.questions]]")
            lines += [f"  {key} = {json.dumps(value)}" for key, value in question.items()]
        path = tmp_path / "kinds.toml"
        path.write_text(EXAMPLE.read_text() + "\n".join(lines) + "\n")
        return path

    every = [example(name, f"q-{name}") for name in NAMES]
    loaded = load_settings(config(every))
    checkin = loaded.checkin("every-kind")
    assert checkin is not None and [q.kind for q in checkin.questions] == NAMES

    # An unknown kind is named, with every kind there is; a key no kind has is reported at
    # the question, whichever kind it is (check-config drops the kind pydantic puts in paths).
    assert set(NAMES) <= settings_module._TAGS
    wrong = [{**question, "colour": "red"} for question in every]
    unknown = {"id": "q-nonsense", "kind": "nonsense", "text": "?"}
    assert main(["check-config", "--config", str(config([*wrong, unknown]))]) == 2
    err = capsys.readouterr().err
    assert f"unknown question kind 'nonsense'; use one of {', '.join(NAMES)}" in err
    for name in NAMES:
        assert f'question "q-{name}", colour: is not a setting' in err, (name, err)


async def test_a_number_question_end_to_end(
    sandbox: Any, client: Any, make_settings: Any, tmp_path: Path
) -> None:
    from tests.conftest import EXAMPLE, join, rows, running

    config = tmp_path / "numbers.toml"
    config.write_text(
        EXAMPLE.read_text()
        + '\n[[checkins]]\nid = "nights"\ntitle = "Nights"\n\n  [[checkins.questions]]\n'
        '  id = "outside"\n  kind = "number"\n  text = "How many nights outside this week?"\n'
        '  min = 0\n  max = 7\n  unit = "nights"\n'
    )
    settings = make_settings(config)
    user = await client.user(5901)
    async with running(settings):
        await join(user)
        await user.send("/checkin nights")
        asked = await user.expect("How many nights outside this week?")
        assert "Type a number from 0 to 7." in asked.text
        await user.send("a few")
        await user.expect("Please type the number, like 3.")
        await user.send("9")  # out of range: asked again
        await user.expect("Please type the number, like 3.")
        await user.send(" 3 ")
        await user.expect("✔ 3")
    assert rows(settings, "SELECT value FROM answers WHERE question_id = 'outside'") == [("3",)]
