"""Decisions: the team puts a question to people, they vote with buttons (and change their
minds), everyone asked hears the result under the small-number rules, and the team says what
it did with it. Through the sandbox, as phones would, across a restart."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.digest import content, html, markdown, tables, weeks
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.settings import ConfigError, Settings, load_settings
from conversations.decisions import (
    Method,
    ProposalError,
    parse_duration,
    parse_proposal,
    result,
)
from tests.conftest import EXAMPLE, join, rows, running, settle

COORDINATOR = 8800
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BALLOT = "We'd like you to decide"
CLOSED = "The vote has closed"
QUESTION = "Which day should the drop-in move to?"


def decide_text() -> str:
    return f"/decide {QUESTION}\n- Monday\n- Wednesday\n- Friday\ncloses: 2 days"


async def vote(user: SandboxUser, option: str, ballot: int) -> dict[str, Any]:
    """Press an answer on the ballot; what the bot said back (its toast)."""
    pressed = await user.press(option, ballot)
    return await user.wait_callback_answer(pressed)


async def ballot_of(user: SandboxUser) -> int:
    return (await user.expect(BALLOT)).message_id


async def buttons_now(user: SandboxUser, message_id: int) -> list[str]:
    return {m.message_id: m for m in await user.messages()}[message_id].button_texts()


async def test_seven_people_decide_change_their_minds_across_a_restart_and_hear_the_result(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
        nudges__check_every_seconds="1",
    )
    clock = FakeClock(NOON)
    people: list[SandboxUser] = []
    ballots: dict[int, int] = {}
    async with running(settings, clock=clock):
        jo = await client.user(COORDINATOR, first_name="Jo")
        for n in range(7):
            person = await client.user(8801 + n, first_name=f"P{n}")
            await join(person)
            people.append(person)

        await jo.send(decide_text())
        preview = await jo.expect("Put this to 7 people?")
        assert QUESTION in preview.text and "• Wednesday" in preview.text
        assert "Vote: one answer each" in preview.text
        assert "Closes: Thu 3 Dec at 12:00" in preview.text  # London is on UTC in December
        await jo.press("Put it to them", preview.message_id)
        await jo.expect("Decision #1 is on its way to 7 people")

        for person in people:
            ballots[person.user_id] = await ballot_of(person)
        ballot = {m.message_id: m for m in await people[0].messages()}[ballots[people[0].user_id]]
        assert QUESTION in ballot.text and "until Thu 3 Dec at 12:00" in ballot.text
        assert ballot.button_texts() == ["Monday", "Wednesday", "Friday"]

        # Four vote before the restart; one changes their mind, one presses twice.
        first = people[0]
        answer = await vote(first, "Monday", ballots[first.user_id])
        assert answer["text"].startswith("Thank you. Your vote is in.")
        assert await buttons_now(first, ballots[first.user_id]) == [
            "✅ Monday",
            "Wednesday",
            "Friday",
        ]
        await vote(first, "Wednesday", ballots[first.user_id])  # changed: Monday is dropped
        assert await buttons_now(first, ballots[first.user_id]) == [
            "Monday",
            "✅ Wednesday",
            "Friday",
        ]
        await vote(people[1], "Wednesday", ballots[people[1].user_id])
        await vote(people[2], "Monday", ballots[people[2].user_id])
        await vote(people[2], "✅ Monday", ballots[people[2].user_id])  # taken back
        await vote(people[2], "Monday", ballots[people[2].user_id])  # and given again
        await vote(people[3], "Friday", ballots[people[3].user_id])

    # A restart mid-vote: the ballots already on phones still work.
    async with running(settings, clock=clock) as app:
        for person, option in zip(people[4:], ("Wednesday", "Wednesday", "Monday"), strict=True):
            answer = await vote(person, option, ballots[person.user_id])
            assert answer["text"].startswith("Thank you. Your vote is in.")
        await settle(sandbox, app)
        assert rows(settings, "SELECT count(*) FROM votes") == [(7,)]  # one each, once
        assert not [m for m in await people[0].messages() if CLOSED in (m.text or "")]

        # Its time comes: everyone asked hears the result; the team sees it.
        clock.advance(timedelta(days=2, minutes=1))
        results = [await person.expect(CLOSED, timeout=10) for person in people]
        text = results[0].text
        assert all(r.text == text for r in results)
        assert "Wednesday: 4" in text
        # Two and one are from fewer than three people: no numbers, for either.
        assert "Monday: fewer than 3" in text and "Friday: fewer than 3" in text
        assert "Most people chose: Wednesday." in text and "7 of 7 people voted." in text
        late = await vote(people[3], "Monday", ballots[people[3].user_id])
        assert late["text"] == "This vote has closed."

        team = await jo.expect("Decision #1 has closed.")
        assert "Wednesday: 4" in team.text and "Monday: fewer than 3" in team.text
        assert "P0" not in team.text and str(people[0].user_id) not in team.text

        # The team says what it did: a "you said, we did" update to everyone asked.
        await jo.press("Tell them what we did", team.message_id)
        await jo.expect("Write what the team did with decision #1")
        await jo.send("From January the drop-in is on Wednesdays.")
        await jo.expect("Added")
        await jo.press("Done")
        preview = await jo.expect("From January the drop-in is on Wednesdays.")
        assert "everyone asked in decision #1" in preview.text
        await jo.press("Send", preview.message_id)
        for n, person in enumerate(people):
            told = await person.expect("From January the drop-in is on Wednesdays.", timeout=10)
            assert "Yes" in told.button_texts()  # "did we get it right?" comes with it
            await person.press("Yes" if n < 4 else "Partly", told.message_id)
        await settle(sandbox, app)
        assert rows(settings, "SELECT decision_id FROM updates") == [(1,)]

        # The tokenism meter: the decision, its turnout, what the team did, and who heard.
        await jo.send("/stats")
        stats = await jo.expect("Sharing power, by stage (since the start):")
        assert (
            "• design: decisions 1 (turnout 100%; followed or explained 1 of 1);"
            " suggestions adopted 0 of 0; got it right 57%; heard back 100%;"
            " lived-experience input yes"
        ) in stats.text
        digest = await content.compute(
            app.bot_data["everystage.services"].db, settings, weeks.week_of(clock.now(), "UTC")
        )
        page = html.render(digest, with_charts=True)
        assert "<h2>Sharing power</h2>" in page and "Sharing power, week by week" in page
        assert "<b>Followed or explained</b>: decisions that closed" in page  # the legend
        meter = tables.render_power(digest)
        assert "power by stage,design,decisions,1,," in meter
        assert "power by stage,design,turnout percent,,100.0," in meter
        assert "power by stage,design,got it right percent,,57.1," in meter
        assert "lived-experience input,1" in meter
        assert "- design: decisions 1 (turnout 100%" in markdown.render(digest)

        await jo.send("/decide")
        overview = await jo.expect("Latest decisions:")
        assert "#1 Which day should the drop-in move to?: closed, 7 of 7 voted" in overview.text
        assert "the team said what it did" in overview.text

        # Theirs: /mydata shows the question and their vote.
        await people[0].send("/mydata")
        await people[0].expect("Here's what we keep about you")
        document = await people[0].wait_for_bot_message()
        mine = json.loads(await client.download(document.document["file_id"]))
        [asked] = mine["decisions_you_were_asked"]
        assert asked["question"] == QUESTION and asked["options"][1] == "Wednesday"
        assert [(v["decision_id"], v["option"]) for v in mine["your_votes"]] == [(1, 1)]
    [(tally, asked, voted)] = rows(settings, "SELECT tally, asked, voted FROM decisions")
    assert (json.loads(tally), asked, voted) == ([2, 4, 1], 7, 7)


async def test_approval_voting_closed_early_with_too_few_voters_shows_no_numbers(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
    )
    async with running(settings, clock=FakeClock(NOON)) as app:
        jo = await client.user(COORDINATOR, first_name="Jo")
        people = []
        for n in range(3):
            person = await client.user(8811 + n, first_name=f"Q{n}")
            await join(person)
            people.append(person)

        # A mistake first: the bot says what is wrong, and sends nothing.
        await jo.send("/decide Should we open later?\n- Yes\nsoon")
        problems = await jo.expect("can't be put to people yet")
        assert "line 3: 'soon' is not an option" in problems.text
        assert "a decision has 2 to 6 options, not 1" in problems.text

        await jo.send(
            "/decide What should the garden have?\n- Benches\n- Vegetables\n- A shed"
            "\nvote: approval"
        )
        preview = await jo.expect("Put this to 3 people?")
        assert "Vote: every answer they'd accept" in preview.text
        await jo.press("Put it to them", preview.message_id)
        await jo.expect("Decision #1 is on its way to 3 people")
        ballot = await people[0].expect(BALLOT)
        assert "Tap every answer you'd be happy with" in ballot.text
        await vote(people[0], "Benches", ballot.message_id)
        await vote(people[0], "A shed", ballot.message_id)
        taken = await vote(people[0], "✅ A shed", ballot.message_id)
        assert taken["text"].startswith("Taken back.")
        assert await buttons_now(people[0], ballot.message_id) == [
            "✅ Benches",
            "Vegetables",
            "A shed",
        ]
        other = await people[1].expect(BALLOT)
        await vote(people[1], "Benches", other.message_id)
        await vote(people[1], "Vegetables", other.message_id)
        await settle(sandbox, app)
        assert rows(settings, "SELECT count(*) FROM votes") == [(3,)]

        # Closed early from /decide: two of three voted, fewer than three: no numbers at all.
        await jo.send("/decide")
        overview = await jo.expect("Latest decisions:")
        assert "#1 What should the garden have?: open until Fri 4 Dec at 12:00" in overview.text
        pressed = await jo.press("Close #1 now", overview.message_id)
        assert (await jo.wait_callback_answer(pressed))["text"].startswith("Decision #1 is closed")
        told = [await person.expect(CLOSED, timeout=10) for person in people]
        assert (
            "Fewer than 3 people voted" in told[0].text and "2 of 3 people voted." in told[0].text
        )
        assert "Benches" not in told[0].text
        again = await jo.press("Close #1 now", overview.message_id)
        assert (await jo.wait_callback_answer(again))["text"] == "Decision #1 was closed already."


async def test_a_participant_cannot_decide_and_a_vote_never_reaches_someone_not_asked(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any
) -> None:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
    )
    async with running(settings, clock=FakeClock(NOON)) as app:
        jo = await client.user(COORDINATOR, first_name="Jo")
        asked = await client.user(8821, first_name="In")
        await join(asked)
        await jo.send(decide_text())
        await jo.press("Put it to them", (await jo.expect("Put this to 1 people?")).message_id)
        ballot = await asked.expect(BALLOT)
        # Someone who joined later was not asked: they get no ballot, and a forged press
        # (a hand-made button on their own chat) is turned away.
        later = await client.user(8822, first_name="Late")
        await join(later)
        await later.send("/decide Anything?\n- a\n- b")
        await later.expect("Sorry, that's only for the project team.")
        question = await later.send("hello")
        await client.call(
            "POST",
            "/updates/raw",
            {
                "update": {
                    "callback_query": {
                        "id": "forged-1",
                        "from": {"id": later.user_id, "is_bot": False, "first_name": "Late"},
                        "chat_instance": "forged",
                        "data": "vote:1:0:1",
                        "message": {
                            "message_id": question.message_id,
                            "date": 0,
                            "chat": {"id": later.chat_id, "type": "private"},
                            "text": "hello",
                        },
                    }
                }
            },
        )
        await settle(sandbox, app)
        assert not [m for m in await later.messages() if BALLOT in (m.text or "")]
        await vote(asked, "Monday", ballot.message_id)
        await settle(sandbox, app)
    assert rows(settings, "SELECT count(*) FROM decisions") == [(1,)]
    assert rows(settings, "SELECT count(*) FROM decision_voters") == [(1,)]
    assert rows(settings, "SELECT count(*) FROM votes") == [(1,)]


# ---------------------------------------------------------------------------------------------
# Written in the config.


def _config_with(tmp_path: Path, extra: str) -> Path:
    config = tmp_path / "everystage.toml"
    shutil.copy(EXAMPLE, config)
    with config.open("a", encoding="utf-8") as out:
        out.write(extra)
    return config


async def test_a_decision_written_in_the_config_is_put_once(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any, tmp_path: Path
) -> None:
    config = _config_with(
        tmp_path,
        '\n[[decisions]]\nid = "opening"\nquestion = "When should we open?"\n'
        'options = ["9am", "10am"]\ncloses_after = "1 week"\n',
    )
    settings: Settings = make_settings(
        config,
        coordinators__user_ids=f"[{COORDINATOR}]",
        nudges__quiet_hours="null",
    )
    async with running(settings, clock=FakeClock(NOON)):
        jo = await client.user(COORDINATOR, first_name="Jo")
        person = await client.user(8831, first_name="R")
        await join(person)
        await jo.send("/decide")
        assert (
            "• /decide opening: When should we open?"
            in (await jo.expect("Written in the config")).text
        )
        await jo.send("/decide opening")
        preview = await jo.expect("Put this to 1 people?")
        assert "Closes: Tue 8 Dec at 12:00" in preview.text
        await jo.press("Put it to them", preview.message_id)
        await person.expect("When should we open?")
        await jo.send("/decide opening")
        await jo.expect("Decision “opening” was put to people already (#1).")
        await jo.send("/decide nothing-here")
        await jo.expect("There is no decision “nothing-here” in the config.")


def test_check_config_names_the_line_of_a_bad_decision(tmp_path: Path) -> None:
    config = _config_with(
        tmp_path,
        '\n[[decisions]]\nid = "a"\nquestion = "Q?"\noptions = ["x", "y"]\nwho = "checkin:nope"\n'
        '\n[[decisions]]\nid = "a"\nquestion = "Q?"\noptions = ["only one"]\n',
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    lines = config.read_text().splitlines()
    who_line = next(i for i, line in enumerate(lines, 1) if line.startswith('who = "checkin:nope"'))
    assert f"{config}:{who_line}" in message and "'nope' is not a check-in id" in message
    assert "'a' is used twice" in message
    assert "2 to 6 options, not 1" in message


# ---------------------------------------------------------------------------------------------
# The pure parts.


def test_a_decide_message_is_read_line_by_line() -> None:
    found = parse_proposal(
        "Which day?\n1. Monday\n2) Tuesday\n• Friday\nclose in 48h\nvote = approval"
        "\nwho: cohort Riverside drop-in"
    )
    assert found.options == ["Monday", "Tuesday", "Friday"]
    assert found.method is Method.APPROVAL and found.who == "cohort:Riverside drop-in"
    assert found.open_for == timedelta(hours=48)
    with pytest.raises(ProposalError) as raised:
        parse_proposal("Which?\n- Monday\n- monday\nvote: ranked\ncloses: 1 year")
    problems = raised.value.problems
    assert "line 4: the vote is plurality or approval" in problems
    assert "line 5: '1 year' is not a time like 3d, 48h or 2 weeks" in problems
    assert "two options are the same" in problems
    with pytest.raises(ProposalError, match="the first line is the question"):
        parse_proposal("- Monday\n- Tuesday\n- Friday")
    assert parse_duration("in 90 minutes") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="between 10 minutes and 60 days"):
        parse_duration("5m")


def test_a_small_option_alone_takes_the_next_smallest_into_hiding() -> None:
    # 4, 3 and 1 of 8: showing 4 and 3 would give away the 1 by subtraction.
    found = result([4, 3, 1], voted=8, asked=10, k=3)
    assert found.shown == [4, None, None] and found.winners == [0]
    # Ties are said as ties; no votes, no winner; too few voters, nothing at all.
    assert result([3, 3, 0], voted=6, asked=6, k=3).winners == [0, 1]
    assert result([3, 3, 0], voted=6, asked=6, k=3).shown == [3, 3, 0]
    assert result([0, 0], voted=0, asked=5, k=3).too_few
    # The most votes resting on too few people: not said which.
    assert result([2, 1, 1, 1], voted=5, asked=5, k=3).winners == []
    # A winner whose count the subtraction rule hides is still said.
    hidden = result([5, 2, 0], voted=7, asked=8, k=3)
    assert hidden.shown == [None, None, 0] and hidden.winners == [0]
