"""Peer researchers: experts by experience on the team, between participants and coordinators.

The config (``[team] peer_researchers``), and end to end through the sandbox what they may do
(a digest, triaging a suggestion, drafting an update a coordinator sends, previewing what we
heard) and what they may not (/stage, /alerts, an alert's button), each refusal audited. Every
command x role x chat kind, as a pure decision, is in tests/test_access.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from telegram import BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup

from bot.access import Role, role_of, team_chats
from bot.cli import main
from bot.clock import FakeClock
from bot.commands import COMMANDS as PARTICIPANTS_MENU
from bot.handlers.auditing import team_only
from bot.sandbox import Sandbox, SandboxClient, SandboxUser
from bot.settings import CoordinatorSettings, Settings, TeamSettings, load_settings
from bot.texts import Texts
from tests.conftest import EXAMPLE, join, rows, running, settle
from tests.test_heard import answer_weekly

COORDINATOR = 9101
PEER = 8101
TEAM_CHAT = -100810
# A Wednesday noon in London: outside quiet hours, and no scheduled check-in is due.
NOON = datetime(2026, 11, 4, 12, tzinfo=UTC)
REFUSED = Texts.load("en")("admin.refused")
UPDATE_HEADER = "📣 You said, we did"

# ---------------------------------------------------------------------------------------------
# The config.


def with_team(peers: str, coordinators: str = "[111111111]") -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "peer_researchers = []" in text and "user_ids = [111111111]" in text
    text = text.replace("user_ids = [111111111]", f"user_ids = {coordinators}", 1)
    return text.replace("peer_researchers = []", f"peer_researchers = {peers}", 1)


def problems(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = main(["check-config", "--config", str(path)])
    err = capsys.readouterr().err
    if code == 0:
        return []
    *lines, _total = err.splitlines()
    return [line.removeprefix(f"{path}:") for line in lines]


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if fragment in line)


def test_peer_researchers_are_listed_by_user_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(with_team("[333333333, 444444444]"), encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 0
    assert "2 peer researcher(s)" in capsys.readouterr().out  # the summary counts them


def test_someone_listed_as_coordinator_and_peer_researcher_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_team("[\n  333333333,\n  222222222,\n]", "[111111111, 222222222]")
    assert problems(tmp_path, capsys, text) == [
        f"{line_of(text, '  222222222,')}: team.peer_researchers[1]: is also in "
        "coordinators.user_ids; a person has one role: keep them in one list"
    ]


def test_peer_researchers_ids_are_positive_whole_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_team('[\n  -5,\n  "333333333",\n]')
    assert problems(tmp_path, capsys, text) == [
        f"{line_of(text, '  -5,')}: team.peer_researchers[0]: must be a Telegram user id: a "
        "positive number, like 333333333",
        f"{line_of(text, '333333333')}: team.peer_researchers[1]: each entry must be a whole "
        "number without quotes, like 333333333",
    ]


def test_the_overlap_is_found_from_the_environment_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVERYSTAGE_TEAM__PEER_RESEARCHERS", "[111111111]")
    assert problems(tmp_path, capsys, with_team("[]")) == [
        "environment EVERYSTAGE_TEAM__PEER_RESEARCHERS: team.peer_researchers[0]: is also in "
        "coordinators.user_ids; a person has one role: keep them in one list"
    ]


# ---------------------------------------------------------------------------------------------
# Who someone is, and where the team is told things (pure).


def settings_with(chat_id: int | None) -> Settings:
    base = load_settings(EXAMPLE)
    return base.model_copy(
        update={
            "coordinators": CoordinatorSettings(user_ids=[COORDINATOR], chat_id=chat_id),
            "team": TeamSettings(peer_researchers=[PEER]),
        }
    )


@pytest.mark.parametrize(
    ("chat_type", "chat_id", "user_id", "role"),
    [
        ("private", PEER, PEER, Role.PEER_RESEARCHER),
        ("private", COORDINATOR, COORDINATOR, Role.COORDINATOR),
        ("private", 8999, 8999, Role.PARTICIPANT),
        ("private", PEER, None, Role.PARTICIPANT),
        ("group", TEAM_CHAT, PEER, Role.COORDINATOR),  # anyone in the coordinators' chat
        ("supergroup", TEAM_CHAT, None, Role.COORDINATOR),
        ("group", -100999, PEER, Role.PARTICIPANT),  # no team role in anyone else's group
        ("group", -100999, COORDINATOR, Role.PARTICIPANT),
        ("channel", -100999, None, Role.PARTICIPANT),
    ],
)
def test_role_of_says_who_someone_is_where_they_are(
    chat_type: str, chat_id: int, user_id: int | None, role: Role
) -> None:
    assert role_of(chat_type, chat_id, user_id, settings_with(TEAM_CHAT)) is role


def test_the_team_is_told_in_its_chat_or_privately_and_peer_researchers_privately() -> None:
    assert team_chats(settings_with(TEAM_CHAT), Role.COORDINATOR) == [TEAM_CHAT]
    assert team_chats(settings_with(TEAM_CHAT), Role.PEER_RESEARCHER) == [TEAM_CHAT, PEER]
    assert team_chats(settings_with(None), Role.COORDINATOR) == [COORDINATOR]
    assert team_chats(settings_with(None), Role.PEER_RESEARCHER) == [COORDINATOR, PEER]


def test_handlers_audit_under_the_registrys_name_and_only_team_entries() -> None:
    with pytest.raises(ValueError, match="not a team command"):
        team_only("checkin")
    with pytest.raises(ValueError, match="not a team command"):
        team_only("frobnicate")
    team_only("digest")  # the registry's entry: role and audit name from there


# ---------------------------------------------------------------------------------------------
# End to end: what a peer researcher may do, and may not.


@pytest.fixture
def team(make_settings: Any) -> Settings:
    settings: Settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        team__peer_researchers=f"[{PEER}]",
        nudges__quiet_hours="null",
    )
    return settings


async def test_a_peer_researcher_sees_a_digest_and_the_figures(
    client: SandboxClient, team: Settings
) -> None:
    peer = await client.user(PEER, first_name="Pip")
    await peer.send("/help")  # they have talked to the bot: their menu can be set
    async with running(team, clock=FakeClock(NOON)) as app:
        await peer.expect("/checkin")
        await peer.send("/digest")
        await peer.expect("Making the digest for 2026-W45")
        await peer.expect("📊 Weekly digest 2026-W45")
        document = await peer.wait_for_bot_message()
        assert document.document["file_name"] == "digest-2026-W45.html"
        await peer.send("/stats")
        await peer.expect("People: 0 taking part")
        # Their menu: what they may use, then the participants' commands.
        menu = await app.bot.get_my_commands(scope=BotCommandScopeChat(PEER))
        assert [c.command for c in menu] == [
            "stats",
            "share",
            "update",
            "decide",
            "digest",
            *PARTICIPANTS_MENU,
        ]
    assert rows(team, "SELECT actor, action, allowed FROM audit_log ORDER BY id") == [
        (str(PEER), "digest", 1),
        (str(PEER), "stats", 1),
    ]


async def test_a_peer_researcher_triages_a_suggestion_and_its_author_hears_back(
    client: SandboxClient, sandbox: Sandbox, team: Settings
) -> None:
    async with running(team, clock=FakeClock(NOON)) as app:
        peer = await client.user(PEER, first_name="Pip")
        await peer.send("/help")  # their private chat with the bot
        await client.user(COORDINATOR, first_name="Jo")
        group = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        ada = await client.user(8201, first_name="Ada")
        await join(ada)
        await ada.send("/suggest Ask us about the night shelter")
        await ada.expect("The team will look at your suggestion")
        # It reaches the peer researcher as well as the coordinators' chat.
        shown = await peer.expect("💡 Suggestion #1 from")
        assert "Ada" not in shown.text and "8201" not in shown.text
        assert shown.button_texts() == ["Adopt", "Not now", "Reply"]
        await group.expect("💡 Suggestion #1 from")
        await peer.press("Adopt", shown.message_id)
        told = await ada.expect("the team is taking up your suggestion")
        assert "“Ask us about the night shelter”" in told.text
        await peer.expect(": adopted")
        # The coordinators' copy, pressed later, finds it decided.
        await settle(sandbox, app)
        copy = next(m for m in await group.messages() if m.from_bot and m.buttons)
        again = await group.press(COORDINATOR, "Adopt", copy.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(again))["text"] == "That is decided already."

        # Reply: the peer researcher's words reach the author as written.
        await ada.send("/suggest More hot meals at the weekend")
        second = await peer.expect("💡 Suggestion #2 from")
        await peer.press("Reply", second.message_id)
        prompt = await peer.expect("Your reply to suggestion #2")
        await peer.send("We are pricing it up for the spring.", reply_to=prompt.message_id)
        await peer.expect("Your reply to suggestion #2 is on its way.")
        await ada.expect("The team replied to your suggestion:\n\nWe are pricing it up")
    assert rows(team, "SELECT status, answer FROM suggestions ORDER BY id") == [
        ("adopted", None),
        ("new", "We are pricing it up for the spring."),
    ]
    audited = rows(team, "SELECT actor, action FROM audit_log WHERE allowed = 1 ORDER BY id")
    assert audited[:2] == [(str(PEER), "suggestion"), (str(COORDINATOR), "suggestion")]


async def test_a_peer_researchers_draft_update_is_sent_by_a_coordinator(
    client: SandboxClient, sandbox: Sandbox, team: Settings
) -> None:
    async with running(team, clock=FakeClock(NOON)) as app:
        await client.user(COORDINATOR, first_name="Jo")
        group = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        ada = await client.user(8201, first_name="Ada")
        await join(ada)
        await ada.press("4")
        await ada.expect("Which parts")
        peer = await client.user(PEER, first_name="Pip")

        await peer.send("/update")
        await peer.expect("Send what changed")
        await peer.send("The drop-in now opens at 9am.")
        await peer.expect("Added (1 so far)")
        await peer.press("Done")
        await peer.expect("What is this update about?")
        await peer.press("Weekly check-in")
        await peer.expect("one question, or the whole check-in?")
        await peer.press("The whole check-in")
        preview = await peer.expect("This would go to 1 people who answered the Weekly check-in")
        assert preview.button_texts() == ["Send to the coordinators", "Cancel"]
        await peer.press("Send to the coordinators")
        await peer.expect("Your draft has gone to the coordinators")
        await settle(sandbox, app)
        assert [m for m in await ada.messages() if UPDATE_HEADER in (m.text or "")] == []

        drafted = await group.expect("✏️ A draft update from a peer researcher")
        assert "The drop-in now opens at 9am." in drafted.text
        assert "It goes to 1 people who answered the Weekly check-in" in drafted.text
        assert "Pip" not in drafted.text and str(PEER) not in drafted.text
        assert drafted.button_texts() == ["Send", "Discard"]
        send = drafted.buttons[0][0].callback_data
        assert send is not None and send.startswith("updp:") and send.endswith(":s")
        # The peer researcher cannot press it for them (a forged button in their chat).
        forged = await app.bot.send_message(
            PEER,
            "forged",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("Send it", callback_data=send)]]
            ),
        )
        refused = await peer.press("Send it", forged.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(refused))["text"] == REFUSED
    # The draft waits in the database, not in the process: after a restart (or on another
    # worker) the coordinator's press still sends it.
    async with running(team, clock=FakeClock(NOON)) as app:
        await group.press(COORDINATOR, "Send", drafted.message_id)
        await group.expect("Sent to 1 of 1 contributors.")
        await peer.expect("A coordinator sent your update: it reached 1 of 1 contributors.")
        [update] = [m for m in await ada.messages() if UPDATE_HEADER in (m.text or "")]
        assert update.text == f"{UPDATE_HEADER}\n\nThe drop-in now opens at 9am."
        # Sent once: its buttons are gone, and a press from an older copy finds nothing.
        shown = {m.message_id: m for m in await group.messages()}[drafted.message_id]
        assert shown.buttons in (None, []), shown.button_texts()
        copy = await app.bot.send_message(
            TEAM_CHAT,
            "another coordinator's copy",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Send", callback_data=send)]]),
        )
        again = await group.press(COORDINATOR, "Send", copy.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(again))["text"] == (
            "That draft has been sent or discarded already."
        )
    assert rows(team, "SELECT author, checkin_id, contributors, reached FROM updates") == [
        (str(COORDINATOR), "weekly", 1, 1)
    ]
    assert rows(team, "SELECT actor, action, allowed FROM audit_log ORDER BY id") == [
        (str(PEER), "update", 1),
        (str(PEER), "update.draft", 1),
        ("refused", "update-drafted", 0),
        (str(COORDINATOR), "update-drafted", 1),
        (str(COORDINATOR), "update.send", 1),
        (str(COORDINATOR), "update-drafted", 1),
    ]


async def test_a_peer_researcher_previews_what_we_heard_without_sending_it(
    client: SandboxClient, sandbox: Sandbox, make_settings: Any, tmp_path: Path
) -> None:
    config = tmp_path / "project.toml"
    config.write_text(EXAMPLE.read_text())
    settings = make_settings(
        config,
        coordinators__user_ids=f"[{COORDINATOR}]",
        team__peer_researchers=f"[{PEER}]",
        nudges__quiet_hours="null",
    )
    async with running(settings) as app:
        people: list[SandboxUser] = [await client.user(8301 + i) for i in range(3)]
        for person, week in zip(people, ["4", "4", "5"], strict=True):
            await join(person)
            await answer_weekly(person, week, "Yes")
        peer = await client.user(PEER, first_name="Pip")
        await peer.send("/share weekly")
        preview = await peer.expect("A preview for you only")
        assert "📣 What we heard: Weekly check-in" in preview.text
        await settle(sandbox, app)
        for person in people:
            assert not [m for m in await person.messages() if "What we heard" in (m.text or "")]
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        await coordinator.send("/share weekly")
        await coordinator.expect("to the 3 people who answered it")
    assert rows(settings, "SELECT count(*) FROM outbox WHERE message_key LIKE 'heard:%'") == [(3,)]


async def test_a_peer_researcher_never_sees_alerts_or_changes_the_stage(
    client: SandboxClient, sandbox: Sandbox, team: Settings
) -> None:
    async with running(team, clock=FakeClock(NOON)) as app:
        await client.user(COORDINATOR, first_name="Jo")
        group = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        peer = await client.user(PEER, first_name="Pip")
        await peer.send("/help")
        ada = await client.user(8201, first_name="Ada")
        await join(ada)
        await ada.send("Honestly I want to end it all.")
        await group.expect("Safeguarding alert")
        stage = app.bot_data["everystage.services"].stage.name

        await peer.send("/alerts")
        await peer.expect(REFUSED)
        await peer.send("/stage next")
        await peer.expect(REFUSED)
        for data in ("alert:1:take", "stage:yes:1"):
            forged = await app.bot.send_message(
                PEER,
                "forged",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("Press", callback_data=data)]]
                ),
            )
            pressed = await peer.press("Press", forged.message_id)
            await settle(sandbox, app)
            assert (await client.callback_answer(pressed))["text"] == REFUSED
        await settle(sandbox, app)
        said = [m.text or "" for m in await peer.messages() if m.from_bot]
        assert not any("alert" in text.lower() for text in said), said
        assert app.bot_data["everystage.services"].stage.name == stage
    assert rows(team, "SELECT taken_by FROM alerts") == [(None,)]
    assert rows(team, "SELECT actor, action, allowed FROM audit_log ORDER BY id") == [
        ("refused", "alerts", 0),
        ("refused", "stage", 0),
        ("refused", "alert-take", 0),
        ("refused", "stage-change", 0),
    ]


async def test_a_peer_researchers_decision_is_put_to_people_by_a_coordinator(
    client: SandboxClient, sandbox: Sandbox, team: Settings
) -> None:
    async with running(team, clock=FakeClock(NOON)) as app:
        await client.user(COORDINATOR, first_name="Jo")
        group = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        ada = await client.user(8211, first_name="Ada")
        await join(ada)
        peer = await client.user(PEER, first_name="Pip")

        await peer.send("/decide Should the garden have benches?\n- Yes\n- No")
        preview = await peer.expect("Put this to 1 people?")
        assert "A coordinator puts it to people" in preview.text
        assert preview.button_texts() == ["Send to the coordinators", "Cancel"]
        await peer.press("Send to the coordinators", preview.message_id)
        await peer.expect("Your decision has gone to the coordinators")
        await settle(sandbox, app)
        assert not [m for m in await ada.messages() if "We'd like you to decide" in (m.text or "")]

        drafted = await group.expect("✏️ A decision drafted by a peer researcher.")
        assert "Should the garden have benches?" in drafted.text and "Pip" not in drafted.text
        assert drafted.button_texts() == ["Put it to them", "Cancel"]
        put = drafted.buttons[0][0].callback_data
        # The peer researcher cannot put it to people themselves (a forged button).
        forged = await app.bot.send_message(
            PEER,
            "forged",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Put", callback_data=put)]]),
        )
        refused = await peer.press("Put", forged.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(refused))["text"] == REFUSED
    async with running(team, clock=FakeClock(NOON)) as app:  # restarted: the draft is kept
        await group.press(COORDINATOR, "Put it to them", drafted.message_id)
        await group.expect("Decision #1 is on its way to 1 people")
        await peer.expect("Your decision is on its way to 1 people (#1).")
        ballot = await ada.expect("We'd like you to decide")
        assert ballot.button_texts() == ["Yes", "No"]
        # Put once: another coordinator's copy of the same button finds nothing left.
        copy = await app.bot.send_message(
            TEAM_CHAT,
            "another coordinator's copy",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Put", callback_data=put)]]),
        )
        again = await group.press(COORDINATOR, "Put", copy.message_id)
        await settle(sandbox, app)
        assert (await client.callback_answer(again))["text"].startswith("That draft is gone.")
    assert rows(team, "SELECT count(*) FROM decision_voters") == [(1,)]
    assert ("refused", "decision", 0) in rows(
        team, "SELECT actor, action, allowed FROM audit_log ORDER BY id"
    )
