"""The pure engine: a check-in walked through event by event, no Telegram, no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conversations import engine
from conversations.engine import Choose, Done, Hint, Skip, State, Text, Toggle, Unsupported, Voice
from conversations.model import CheckIn, options_of

CHECKIN = CheckIn.model_validate(
    {
        "id": "weekly",
        "title": "Weekly",
        "questions": [
            {"id": "week", "kind": "scale", "text": "How was your week?", "min": 1, "max": 5},
            {
                "id": "hard",
                "kind": "text",
                "text": "What made it hard?",
                "show_if": {"question": "week", "any_of": [1, 2]},
            },
            {"id": "used", "kind": "multi", "text": "Used?", "options": ["Meals", "Showers"]},
            {"id": "heard", "kind": "yesno", "text": "Listened to?", "required": True},
            {"id": "fix", "kind": "choice", "text": "Fix first?", "options": ["Hours", "Staff"]},
            {"id": "think", "kind": "reflection", "text": "Reflect", "follow_up": "And then?"},
        ],
    }
)


def walk(events: list) -> tuple[list[engine.Record], engine.Transition]:
    """Run events from the start, checking each is accepted; return every record."""
    moved = engine.start(CHECKIN)
    records: list[engine.Record] = []
    for event in events:
        assert moved.state is not None
        event = event(moved.prompt.step) if callable(event) else event
        moved = engine.advance(CHECKIN, moved.state, event)
        assert not moved.stale and moved.hint is None, (event, moved)
        records.extend(moved.records)
    return records, moved


def test_full_walk_with_branch_skip_and_follow_up() -> None:
    records, last = walk(
        [
            lambda s: Choose(s, 1),  # week = 2 -> "hard" shows
            Text("the hostel closed"),
            lambda s: Toggle(s, 0),
            lambda s: Toggle(s, 1),
            lambda s: Toggle(s, 0),  # untick Meals
            lambda s: Done(s),
            lambda s: Choose(s, 0),  # yes
            lambda s: Skip(s),  # fix skipped
            Voice("abc.ogg", 4),
            Text("more staff"),
        ]
    )
    assert last.finished and last.state is None
    assert [(r.question_id, r.value) for r in records] == [
        ("week", 2),
        ("hard", "the hostel closed"),
        ("used", ["Showers"]),
        ("heard", "yes"),
        ("fix", None),
        ("think", "abc.ogg"),
        ("think.follow_up", "more staff"),
    ]
    assert records[4].skipped and records[5].file_ref == "abc.ogg"


def test_branch_not_taken_skips_the_question() -> None:
    records, _ = walk([lambda s: Choose(s, 4)])
    moved = engine.start(CHECKIN)
    moved = engine.advance(CHECKIN, moved.state, Choose(moved.prompt.step, 4))
    assert moved.prompt.question.id == "used"
    assert [r.question_id for r in records] == ["week"]


def test_double_tap_is_stale_and_records_nothing() -> None:
    first = engine.start(CHECKIN)
    press = Choose(first.prompt.step, 3)
    moved = engine.advance(CHECKIN, first.state, press)
    again = engine.advance(CHECKIN, moved.state, press)
    assert again.stale and again.records == () and again.state == moved.state


def test_unexpected_input_gets_a_hint_and_the_same_question() -> None:
    start = engine.start(CHECKIN)
    sticker = engine.advance(CHECKIN, start.state, Unsupported("sticker"))
    assert sticker.hint is Hint.USE_BUTTONS and sticker.prompt == start.prompt
    words = engine.advance(CHECKIN, start.state, Text("great thanks"))
    assert words.hint is Hint.USE_BUTTONS and not words.records
    voice = engine.advance(CHECKIN, start.state, Voice("x.ogg"))
    assert voice.hint is Hint.USE_BUTTONS


def test_typing_a_button_label_counts_as_pressing_it() -> None:
    start = engine.start(CHECKIN)
    moved = engine.advance(CHECKIN, start.state, Text(" 4 "))
    assert moved.records[0].value == 4


def test_required_question_cannot_be_skipped() -> None:
    _, at_heard = walk([lambda s: Choose(s, 4), lambda s: Skip(s)])
    assert at_heard.prompt.question.id == "heard" and not at_heard.prompt.can_skip
    refused = engine.advance(CHECKIN, at_heard.state, Skip(at_heard.prompt.step))
    assert refused.hint is Hint.REQUIRED and refused.records == ()


def test_done_with_nothing_ticked_asks_to_pick_one() -> None:
    _, at_used = walk([lambda s: Choose(s, 4)])
    moved = engine.advance(CHECKIN, at_used.state, Done(at_used.prompt.step))
    assert moved.hint is Hint.PICK_ONE


def test_skipped_reflection_skips_its_follow_up() -> None:
    records, last = walk(
        [
            lambda s: Choose(s, 4),
            lambda s: Skip(s),
            lambda s: Choose(s, 1),
            lambda s: Choose(s, 0),
            lambda s: Skip(s),
        ]
    )
    assert last.finished and records[-1].question_id == "think" and records[-1].skipped


def test_state_round_trips_through_json_and_resume_bumps_the_step() -> None:
    _, mid = walk([lambda s: Choose(s, 4), lambda s: Toggle(s, 1)])
    restored = State.from_json(mid.state.to_json())
    assert restored == mid.state
    resumed = engine.resume(CHECKIN, restored)
    assert resumed.prompt.question.id == "used" and resumed.prompt.selected == (1,)
    stale = engine.advance(CHECKIN, resumed.state, Done(mid.prompt.step))
    assert stale.stale


@pytest.mark.parametrize(
    "module", ["engine.py", "model.py", "checks.py", "kinds.py", "questions.py"]
)
def test_engine_never_imports_telegram_or_sqlite(module: str) -> None:
    tree = ast.parse((Path(engine.__file__).parent / module).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"telegram", "aiosqlite", "sqlite3", "bot", "storage"}


# ---------------------------------------------------------------------------------------------
# Question numbers: what this person is actually asked.


def numbering(moved: engine.Transition) -> tuple[int, int, bool]:
    assert moved.prompt is not None
    return moved.prompt.number, moved.prompt.total, moved.prompt.total_exact


def test_a_hidden_question_is_not_counted() -> None:
    start = engine.start(CHECKIN)
    assert numbering(start) == (1, 6, False)  # "hard" depends on this answer: up to 6
    good = engine.advance(CHECKIN, start.state, Choose(start.prompt.step, 4))
    assert good.prompt.question.id == "used" and numbering(good) == (2, 5, True)
    hard = engine.advance(CHECKIN, start.state, Choose(start.prompt.step, 0))
    assert hard.prompt.question.id == "hard" and numbering(hard) == (2, 6, True)
    skipped = engine.advance(CHECKIN, start.state, Skip(start.prompt.step))
    assert numbering(skipped) == (2, 5, True)  # no answer: "hard" is not asked


CHAINED = CheckIn.model_validate(
    {
        "id": "chained",
        "title": "Chained",
        "questions": [
            {"id": "a", "kind": "scale", "text": "A", "min": 1, "max": 3},
            {"id": "b", "kind": "yesno", "text": "B", "show_if": {"question": "a", "equals": 1}},
            {"id": "c", "kind": "text", "text": "C", "show_if": {"question": "b", "equals": "yes"}},
            {"id": "d", "kind": "choice", "text": "D", "options": ["x", "y"]},
            {"id": "e", "kind": "text", "text": "E", "show_if": {"question": "d", "equals": "y"}},
            {"id": "f", "kind": "reflection", "text": "F", "follow_up": "F2"},
        ],
    }
)


def test_a_question_that_depends_on_a_hidden_one_is_hidden_too() -> None:
    start = engine.start(CHAINED)
    assert numbering(start) == (1, 6, False)
    a_is_2 = engine.advance(CHAINED, start.state, Choose(start.prompt.step, 1))
    # b is not asked, so c (which depends on b) is not either; e still depends on d.
    assert a_is_2.prompt.question.id == "d" and numbering(a_is_2) == (2, 4, False)
    d_is_x = engine.advance(CHAINED, a_is_2.state, Choose(a_is_2.prompt.step, 0))
    assert d_is_x.prompt.question.id == "f" and numbering(d_is_x) == (3, 3, True)


def every_path(checkin: CheckIn) -> list[list[engine.Prompt]]:
    """Every way through a check-in (each option, or skipping), as the prompts shown."""
    paths: list[list[engine.Prompt]] = []

    def walk_from(moved: engine.Transition, shown: list[engine.Prompt]) -> None:
        if moved.finished:
            paths.append(shown)
            return
        prompt = moved.prompt
        assert prompt is not None and moved.state is not None
        shown = [*shown, prompt]
        step, state = prompt.step, moved.state
        # (state, event) pairs: each way to leave this question.
        ways: list[tuple[State, engine.Event]] = [(state, Skip(step))] if prompt.can_skip else []
        options = options_of(prompt.question) if prompt.takes_buttons else None
        if options is None:
            ways.append((state, Text("words")))
        elif prompt.question.kind == "multi":
            ticked = engine.advance(checkin, state, Toggle(step, 0)).state
            assert ticked is not None
            ways.append((ticked, Done(step)))
        else:
            ways += [(state, Choose(step, i)) for i in range(len(options))]
        for before, event in ways:
            next_moved = engine.advance(checkin, before, event)
            assert not next_moved.stale and next_moved.hint is None
            walk_from(next_moved, shown)

    walk_from(engine.start(checkin), [])
    return paths


@pytest.mark.parametrize("checkin", [CHECKIN, CHAINED], ids=["weekly", "chained"])
def test_numbers_are_never_wrong_on_any_path(checkin: CheckIn) -> None:
    paths = every_path(checkin)
    assert len(paths) > 10
    for shown in paths:
        asked = [p for p in shown if not p.follow_up]
        assert [p.number for p in asked] == list(range(1, len(asked) + 1))
        for prompt in asked:
            assert prompt.total >= len(asked)  # "up to" is an upper bound
            if prompt.total_exact:
                assert prompt.total == len(asked)
        assert asked[-1].total_exact  # by the last question, the total is known
