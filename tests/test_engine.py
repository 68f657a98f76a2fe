"""The pure engine: a check-in walked through event by event, no Telegram, no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conversations import engine
from conversations.engine import Choose, Done, Hint, Skip, State, Text, Toggle, Unsupported, Voice
from conversations.model import CheckIn

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


@pytest.mark.parametrize("module", ["engine.py", "model.py", "checks.py"])
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
