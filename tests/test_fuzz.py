"""Property-based tests: the engine under any sequence of inputs, and any update Telegram (or a
stand-in for it) might send, through the real bot."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox import Sandbox, SandboxClient
from bot.settings import Settings, load_settings
from conversations import engine
from conversations.engine import (
    FOLLOW_UP_SUFFIX,
    Choose,
    Done,
    Event,
    Skip,
    State,
    Text,
    Toggle,
    Unsupported,
    Voice,
)
from tests.conftest import EXAMPLE, join, rows, settle

CHECKINS = load_settings(EXAMPLE).checkins

# -- the engine ---------------------------------------------------------------------------------

steps = st.integers(min_value=-2, max_value=40)
options = st.integers(min_value=-2, max_value=12)
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(Choose, steps, options),
    st.builds(Toggle, steps, options),
    st.builds(Done, steps),
    st.builds(Skip, steps),
    st.builds(Text, st.text(max_size=40)),
    st.builds(Voice, st.text(min_size=1, max_size=10)),
    st.builds(Unsupported, st.sampled_from(["sticker", "photo", "location"])),
)


@settings(max_examples=300, deadline=None)
@given(
    checkin_index=st.integers(min_value=0, max_value=len(CHECKINS) - 1),
    # Mostly presses for the step on screen, as people make them, with anything else mixed in.
    script=st.lists(st.tuples(st.booleans(), events), max_size=60),
)
def test_the_engine_takes_any_input_and_records_each_question_once(
    checkin_index: int, script: list[tuple[bool, Event]]
) -> None:
    checkin = CHECKINS[checkin_index]
    ids = {q.id for q in checkin.questions}
    started = engine.start(checkin)
    state: State | None = started.state
    recorded: list[str] = []
    for current_step, event in script:
        if state is None:
            break
        if current_step and hasattr(event, "step"):
            event = type(event)(
                state.step, *[getattr(event, f) for f in ("option",) if hasattr(event, f)]
            )
        moved = engine.advance(checkin, state, event)
        if moved.stale or moved.hint is not None:
            assert moved.state == state and not moved.records
            continue
        for record in moved.records:
            assert record.question_id.removesuffix(FOLLOW_UP_SUFFIX) in ids
            assert record.question_id not in recorded  # never twice
            recorded.append(record.question_id)
        if moved.state is not None:
            assert moved.state.step >= state.step
            assert 0 <= moved.state.index < len(checkin.questions)
            assert moved.prompt is not None and moved.prompt.step == moved.state.step
            # What is stored survives a restart unchanged.
            assert State.from_json(moved.state.to_json()) == moved.state
        else:
            assert moved.finished and moved.prompt is None
        state = moved.state


# -- any update, through the real bot ------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
people = st.fixed_dictionaries(
    {"id": st.integers(min_value=1, max_value=10**10), "is_bot": st.booleans()},
    optional={"first_name": st.text(max_size=10), "username": json_values},
)
chats = st.fixed_dictionaries(
    {"id": st.integers(min_value=-(10**13), max_value=10**10)},
    optional={"type": st.sampled_from(["private", "group", "supergroup", "channel", "odd"])},
)
messages = st.fixed_dictionaries(
    {"message_id": st.integers(min_value=-5, max_value=10**6), "chat": chats | json_values},
    optional={
        "date": st.integers(min_value=0, max_value=2**33) | json_values,
        "from": people | json_values,
        "text": st.text(max_size=30) | json_values,
        "entities": st.lists(
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["bot_command", "mention", "bold", "x"]),
                    "offset": st.integers(-3, 40),
                    "length": st.integers(-3, 40),
                }
            ),
            max_size=3,
        )
        | json_values,
        "voice": json_values,
        "caption": json_values,
    },
)
callback_queries = st.fixed_dictionaries(
    {"id": st.text(max_size=10), "from": people | json_values},
    optional={
        "message": messages | json_values,
        "data": st.sampled_from(
            ["a:1:c:0", "a:99:d", "consent:yes:1", "delete:yes", "n:1:start", "set:menu:f"]
        )
        | st.text(max_size=20),
        "chat_instance": st.text(max_size=5),
    },
)
updates = st.one_of(
    st.builds(lambda m: {"message": m}, messages),
    st.builds(lambda m: {"edited_message": m}, messages),
    st.builds(lambda q: {"callback_query": q}, callback_queries),
    st.dictionaries(
        st.sampled_from(["poll", "poll_answer", "my_chat_member", "inline_query", "unknown_kind"]),
        json_values,
        min_size=1,
        max_size=2,
    ),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(update=updates)
async def test_any_update_is_recorded_and_the_bot_keeps_serving(
    bot: Any, sandbox: Sandbox, client: SandboxClient, settings: Settings, update: dict[str, Any]
) -> None:
    update_id = await client.inject_update(json.loads(json.dumps(update)))
    await settle(sandbox, bot)
    if update_id is not None:  # allowed_updates may have filtered it out, as Telegram would
        assert rows(settings, "SELECT status FROM inbox WHERE update_id = ?", (update_id,)) in (
            [("handled",)],
            [("failed",)],
            [("unreadable",)],
        )
    # Someone else is still served.
    person = await client.user(5700)
    await person.send("/help")
    await person.expect("Here's what I can do")


async def test_the_bot_serves_a_check_in_between_hostile_updates(
    bot: Any, sandbox: Sandbox, client: SandboxClient, settings: Settings
) -> None:
    user = await client.user(5701)
    await join(user)
    for raw in ({"message": {"message_id": 1}}, {"callback_query": {"id": "x"}}, {"poll": []}):
        await client.inject_update(raw)
    await user.press("4")
    await user.expect("Which parts of the service")
    await settle(sandbox, bot)
    assert rows(settings, "SELECT count(*) FROM inbox WHERE status = 'pending'") == [(0,)]
