"""Where each command and button works, for whom: the registry, the decision, and the matrix.

The matrix drives the real Application through the sandbox: every command and every button
prefix, in a private chat, the coordinators' chat and another group, from a participant, a
listed peer researcher, a listed coordinator and an outsider; after each, nothing of the
project may appear where it must not, nothing may be stored from a group, and every refusal
must be audited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from telegram import (
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)
from telegram.ext import CallbackQueryHandler, CommandHandler, TypeHandler

from bot import access
from bot.access import Decision, Kind, Role, decide
from bot.app import COMMANDS as PUBLISHED_COMMANDS
from bot.app import build_application
from bot.callbacks import Button
from bot.clock import FakeClock
from bot.handlers import other
from bot.handlers.guard import GUARD_GROUP, button_of, command_of, guard
from bot.language import LANGUAGE_GROUP
from bot.sandbox import Sandbox, SandboxClient, SandboxGroup, SandboxUser
from bot.sandbox.models import BOT_ID
from bot.settings import CoordinatorSettings, Settings, TeamSettings, load_settings
from bot.texts import Texts
from tests.conftest import EXAMPLE, join, rows, running, settle

COORDINATOR = 9001
PEER = 8001
PARTICIPANT = 7001
OUTSIDER = 7002
TEAM_CHAT = -100500
OTHER_GROUP = -100777
# A Saturday: nothing is due (the weekly check-in's window closed on Friday, the pulse is for
# weekdays in another stage, the digest's catch-up is past), so nudges never cross the matrix.
SATURDAY = datetime(2026, 11, 7, 12, tzinfo=UTC)
WORRYING = "Honestly I want to end it all."

TEXTS = Texts.load("en")
GROUP_NOTE = TEXTS("hint.group")
REFUSED = TEXTS("admin.refused")
PRIVATE_BUTTON = TEXTS("hint.private_button")

PARTICIPANT_COMMANDS = {
    "suggest",
    "start",
    "checkin",
    "settings",
    "mydata",
    "delete",
    "pause",
    "resume",
    "stop",
    "support",
    "help",
    "privacy",
    "language",
}
PEER_RESEARCHER_COMMANDS = {"stats", "digest", "share", "update", "decide"}
COORDINATOR_COMMANDS = {"stage", "ask", "reload", "alerts", "paid", "listen"}
PARTICIPANT_BUTTONS = {"consent", "a", "delete", "n", "set", "quote", "got", "vote", "lang", "vw"}
PEER_RESEARCHER_BUTTONS = {"upd", "sug", "decd"}
COORDINATOR_BUTTONS = {"stage", "alert", "updp", "dec", "listen"}
CHATS = ("private", "team", "other")
PEOPLE = {
    "participant": PARTICIPANT,
    "peer researcher": PEER,
    "coordinator": COORDINATOR,
    "outsider": OUTSIDER,  # never joined; in the coordinators' chat, a stranger there
}
# Who each person is in each kind of chat, written out independently of bot.access: in a
# private chat what they are listed as; in the coordinators' chat anyone counts as a
# coordinator; in any other group nobody has a team role (None).
ROLE_IN = {
    **{(person, "private"): Role.PARTICIPANT for person in PEOPLE},
    ("peer researcher", "private"): Role.PEER_RESEARCHER,
    ("coordinator", "private"): Role.COORDINATOR,
    **{(person, "team"): Role.COORDINATOR for person in PEOPLE},
    **{(person, "other"): None for person in PEOPLE},
}


@cache
def team_settings() -> Settings:
    """The example project with one listed coordinator, one peer researcher and a
    coordinators' chat."""
    base = load_settings(EXAMPLE)
    coordinators = CoordinatorSettings(user_ids=[COORDINATOR], chat_id=TEAM_CHAT)
    team = TeamSettings(peer_researchers=[PEER])
    return base.model_copy(update={"coordinators": coordinators, "team": team})


def where(chat: str, user_id: int) -> tuple[str, int]:
    """Chat type and id as Telegram gives them for a message from user_id in that chat."""
    return {
        "private": ("private", user_id),
        "team": ("group", TEAM_CHAT),
        "other": ("supergroup", OTHER_GROUP),
    }[chat]


@dataclass(frozen=True)
class Expected:
    """What the policy says about one case, written out independently of bot.access."""

    allowed: bool
    reply: str | None = None  # the exact text of the note, refusal or toast
    audited: str | None = None  # the action audited as refused


def policy(kind: Kind, name: str, chat: str, person: str) -> Expected:
    """The expected answer, from the entry's minimum role (so a new command or button is
    covered as soon as it is in the registry) and the person's role written out above."""
    command = kind is Kind.COMMAND
    least = access.entry(kind, name)
    assert least is not None
    if least.role is Role.PARTICIPANT:
        if chat == "private":
            return Expected(True)
        return Expected(False, GROUP_NOTE if command else PRIVATE_BUTTON)
    audits = {
        "stage": "stage-change",
        "upd": "update",
        "sug": "suggestion",
        "alert": "alert-take",
        "dec": "decision",
        "decd": "decision-draft",
        "updp": "update-drafted",
        "listen": "listen-heard",
    }
    action = name if command else audits.get(name, least.action)
    role = ROLE_IN[person, chat]
    if role is not None and role >= least.role:
        return Expected(True, audited=None)
    if chat in ("private", "team"):
        return Expected(False, REFUSED, action)
    return Expected(False, GROUP_NOTE if command else REFUSED, action)


def cases() -> Iterator[tuple[Kind, str, str, str]]:
    for kind, names in ((Kind.COMMAND, access.COMMANDS), (Kind.BUTTON, access.BUTTONS)):
        for name in names:
            for chat in CHATS:
                for person in PEOPLE:
                    yield kind, name, chat, person


# ---------------------------------------------------------------------------------------------
# The registry and the decision, without Telegram.


def test_the_registry_is_exactly_the_documented_policy() -> None:
    def names(table: dict[str, access.Entry], role: Role) -> set[str]:
        return {name for name, entry in table.items() if entry.role is role}

    assert names(access.COMMANDS, Role.PARTICIPANT) == PARTICIPANT_COMMANDS
    assert names(access.COMMANDS, Role.PEER_RESEARCHER) == PEER_RESEARCHER_COMMANDS
    assert names(access.COMMANDS, Role.COORDINATOR) == COORDINATOR_COMMANDS
    assert names(access.BUTTONS, Role.PARTICIPANT) == PARTICIPANT_BUTTONS
    assert names(access.BUTTONS, Role.PEER_RESEARCHER) == PEER_RESEARCHER_BUTTONS
    assert names(access.BUTTONS, Role.COORDINATOR) == COORDINATOR_BUTTONS
    assert set(PUBLISHED_COMMANDS) <= PARTICIPANT_COMMANDS  # the menu shows participants' only
    for table in (access.COMMANDS, access.BUTTONS):
        for entry in table.values():
            assert bool(entry.action) == (entry.role is not Role.PARTICIPANT)
    # What a peer researcher must never do: safeguarding details, stages, sending to people.
    never = {"stage", "alerts", "ask", "reload"}
    assert {name for name in never if access.COMMANDS[name].role is Role.COORDINATOR} == never
    assert access.BUTTONS["stage"].role is access.BUTTONS["alert"].role is Role.COORDINATOR


def test_decide_follows_the_policy_for_every_command_button_chat_and_person() -> None:
    settings = team_settings()
    wrong = []
    for kind, name, chat, person in cases():
        chat_type, chat_id = where(chat, PEOPLE[person])
        got = decide(kind, name, chat_type, chat_id, PEOPLE[person], settings)
        want = policy(kind, name, chat, person)
        as_expected = Expected(
            got.allowed, TEXTS(got.reply) if got.reply else None, got.audit or None
        )
        if as_expected != want:
            wrong.append(f"{kind.value} {name} in {chat} from {person}: {got} (want {want})")
    assert not wrong, "\n".join(wrong)


def test_decide_leaves_what_is_not_ours_to_the_usual_handlers() -> None:
    settings = team_settings()
    for chat_type, chat_id in (("private", OUTSIDER), ("group", OTHER_GROUP)):
        assert decide(Kind.COMMAND, "frobnicate", chat_type, chat_id, OUTSIDER, settings).allowed
        assert decide(Kind.BUTTON, "v0", chat_type, chat_id, OUTSIDER, settings).allowed


@pytest.mark.parametrize(
    ("chat_type", "chat_id", "user_id", "allowed"),
    [
        ("private", COORDINATOR, COORDINATOR, True),
        ("private", PEER, PEER, True),  # a peer researcher may see the figures
        ("private", OUTSIDER, OUTSIDER, False),
        ("group", TEAM_CHAT, OUTSIDER, True),  # anyone writing in the team's chat counts
        ("supergroup", TEAM_CHAT, None, True),  # an anonymous admin there too
        ("group", OTHER_GROUP, COORDINATOR, False),  # a coordinator, but in someone else's group
        ("group", OTHER_GROUP, PEER, False),
        ("channel", OTHER_GROUP, None, False),
        ("private", COORDINATOR, None, False),
    ],
)
def test_coordinators_count_in_their_private_chat_and_the_team_chat_only(
    chat_type: str, chat_id: int, user_id: int | None, allowed: bool
) -> None:
    decision = decide(Kind.COMMAND, "stats", chat_type, chat_id, user_id, team_settings())
    assert decision.allowed is allowed


def test_without_a_coordinators_chat_no_group_counts() -> None:
    settings = load_settings(EXAMPLE).model_copy(
        update={"coordinators": CoordinatorSettings(user_ids=[COORDINATOR])}
    )
    refused = Decision(False, "hint.group", "alerts")
    assert decide(Kind.COMMAND, "alerts", "group", TEAM_CHAT, COORDINATOR, settings) == refused
    assert decide(Kind.COMMAND, "alerts", "private", COORDINATOR, COORDINATOR, settings).allowed


def _message(text: str, length: int | None, offset: int = 0) -> Message:
    entities = [] if length is None else [MessageEntity(MessageEntity.BOT_COMMAND, offset, length)]
    sender = User(1, "Sam", False)
    return Message(1, SATURDAY, Chat(1, "private"), from_user=sender, text=text, entities=entities)


@pytest.mark.parametrize(
    ("text", "length", "offset", "name"),
    [
        ("/stats", 6, 0, "stats"),
        ("/Stats now", 6, 0, "stats"),
        ("/digest@everystage_bot 2026-W45", 22, 0, "digest"),
        ("/digest@Everystage_Bot", 22, 0, "digest"),
        ("/digest@someone_elses_bot", 25, 0, None),  # for another bot
        ("hello /stats", 6, 6, None),  # not at the start
        ("/stats", None, 0, None),  # no command entity
    ],
)
def test_the_command_is_read_as_python_telegram_bot_reads_it(
    text: str, length: int | None, offset: int, name: str | None
) -> None:
    assert command_of(_message(text, length, offset), "everystage_bot") == name


def test_a_button_is_named_by_its_data_up_to_the_first_colon() -> None:
    assert button_of("consent:yes:1") == "consent"
    assert button_of("alert:3:take") == "alert"
    assert button_of("upd") == "upd"
    assert button_of(None) is None


def test_every_handler_of_the_built_application_is_in_the_registry(
    make_settings: Any,
) -> None:
    app = build_application(make_settings())
    groups = sorted(app.handlers)
    first = app.handlers[groups[0]]
    assert groups[0] == GUARD_GROUP and len(first) == 1
    assert isinstance(first[0], TypeHandler) and first[0].type is Update
    assert first[0].callback is guard and first[0].block

    commands: set[str] = set()
    prefixes: set[str] = set()
    catch_all = []
    # Right after the guard, one more sees every update it let through: the person's language
    # is read there (bot/language.py), and nothing is answered or stored.
    assert groups[1] == LANGUAGE_GROUP and len(app.handlers[LANGUAGE_GROUP]) == 1
    assert app.handlers[LANGUAGE_GROUP][0].callback.__module__ == "bot.language"
    for group in groups[2:]:
        for handler in app.handlers[group]:
            assert not isinstance(handler, TypeHandler), "only the guard sees every update"
            if isinstance(handler, CommandHandler):
                commands |= set(handler.commands)
            elif isinstance(handler, CallbackQueryHandler):
                if handler.pattern is None:
                    catch_all.append(handler.callback)
                    continue
                assert isinstance(handler.pattern, re.Pattern), handler.pattern
                # Registered through the one table of buttons, never a regex of its own.
                by_pattern = {b.pattern: b for b in Button}
                assert handler.pattern.pattern in by_pattern, handler.pattern.pattern
                prefixes.add(by_pattern[handler.pattern.pattern].prefix)
    assert commands == set(access.COMMANDS)
    assert prefixes == set(access.BUTTONS) == {b.prefix for b in Button}
    assert catch_all == [other.stale_button]


# ---------------------------------------------------------------------------------------------
# The matrix, end to end.


@dataclass(frozen=True)
class Data:
    """Callback data: harmful (pressed where it must be refused) and harmless (where allowed)."""

    harmful: str
    harmless: str


def button_data(consent_version: int) -> dict[str, Data]:
    return {
        "consent": Data(f"consent:yes:{consent_version}", f"consent:more:{consent_version}"),
        "a": Data("a:1:c:2", "a:99:c:0"),  # step 1: the first question of a new check-in
        "delete": Data("delete:yes", "delete:no"),
        "n": Data("n:1:start", "n:999999:hour"),
        "set": Data("set:f:fortnightly", "set:close:-"),
        "quote": Data("quote:yes", "quote:no"),
        "got": Data("got:1:no", "got:999999:yes"),
        "vw": Data("vw:1:ok", "vw:999999:audio"),
        "stage": Data("stage:yes:1", "stage:no:-"),
        "upd": Data("upd:s", "upd:x"),
        "alert": Data("alert:1:take", "alert:999:take"),
        "sug": Data("sug:1:adopt", "sug:999999:later"),
        "vote": Data("vote:1:0:1", "vote:999999:0:1"),
        "lang": Data("lang:en", "lang:-"),
        "dec": Data("dec:close:1", "dec:did:999999"),
        "updp": Data("updp:1:s", "updp:999999:x"),
        "decd": Data("decd:put", "decd:x"),
        "listen": Data("listen:1:follow", "listen:999999:fine"),
    }


def bot_events_since(sandbox: Sandbox, seq: int) -> dict[int, list[dict[str, Any]]]:
    """What the bot did in each chat after seq: messages, edits and deletions."""

    def by_bot(event: dict[str, Any]) -> bool:
        sender = (event.get("message") or {}).get("from", {})
        return event["kind"] == "deleted" or sender.get("id") == BOT_ID

    found: dict[int, list[dict[str, Any]]] = {}
    for chat_id, chat in sandbox.world.chats.items():
        events = [e for e in chat.events if e["seq"] > seq and by_bot(e)]
        if events:
            found[chat_id] = events
    return found


def describe(events: dict[int, list[dict[str, Any]]]) -> str:
    return repr(
        {
            chat: [
                (e["kind"], ((e.get("message") or {}).get("text") or "")[:40]) for e in chat_events
            ]
            for chat, chat_events in events.items()
        }
    )


async def test_every_command_and_button_in_every_chat_for_everyone(
    sandbox: Sandbox, client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]",
        coordinators__chat_id=str(TEAM_CHAT),
        team__peer_researchers=f"[{PEER}]",
        telegram__rate_limit="false",  # ~330 replies, ~100 in one group: no pacing wanted here
    )
    data = button_data(settings.consent.version)
    wrong: list[str] = []
    async with running(settings, clock=FakeClock(SATURDAY)) as app:
        participant = await client.user(PARTICIPANT, first_name="Pat")
        await join(participant)
        coordinator = await client.user(COORDINATOR, first_name="Jo")
        outsider = await client.user(OUTSIDER, first_name="Oz")
        peer = await client.user(PEER, first_name="Pip")
        for person in (coordinator, outsider, peer):
            await person.send("/privacy")  # opens their private chat with the bot
        team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        other_group = await client.group(OTHER_GROUP, "Drop-in regulars", added_by=PARTICIPANT)
        await participant.send(WORRYING)  # an alert (id 1) for the forged "I'm on it"
        await team.expect("Safeguarding alert")
        await settle(sandbox, app)
        privates: dict[str, SandboxUser] = {
            "participant": participant,
            "peer researcher": peer,
            "coordinator": coordinator,
            "outsider": outsider,
        }
        groups: dict[str, SandboxGroup] = {"team": team, "other": other_group}
        answers = rows(settings, "SELECT count(*) FROM answers")
        groups_taking_part = [(0,)]
        stage = app.bot_data["everystage.services"].stage.name

        for kind, name, chat, person in cases():
            user_id = PEOPLE[person]
            want = policy(kind, name, chat, person)
            label = f"{kind.value} {name} in {chat} from {person}"
            audit_from = rows(settings, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
            chat_id = user_id if chat == "private" else groups[chat].chat_id
            query_id = None
            if kind is Kind.COMMAND:
                start = sandbox.world.last_seq
                if chat == "private":
                    await privates[person].send(f"/{name}")
                else:
                    await groups[chat].send(user_id, f"/{name}")
            else:
                carrier = await app.bot.send_message(
                    chat_id,
                    f"A forged button ({label})",
                    reply_markup=InlineKeyboardMarkup(
                        [
                            [
                                InlineKeyboardButton(
                                    "Press",
                                    callback_data=(
                                        data[name].harmless if want.allowed else data[name].harmful
                                    ),
                                )
                            ]
                        ]
                    ),
                )
                start = sandbox.world.last_seq
                if chat == "private":
                    query_id = await privates[person].press("Press", carrier.message_id)
                else:
                    query_id = await groups[chat].press(user_id, "Press", carrier.message_id)
            await settle(sandbox, app)

            posted = bot_events_since(sandbox, start)
            elsewhere = {c: e for c, e in posted.items() if c != chat_id}
            here = posted.get(chat_id, [])
            if elsewhere:
                wrong.append(f"{label}: the bot also acted in {describe(elsewhere)}")
            texts = [(e["kind"], (e.get("message") or {}).get("text")) for e in here]
            if not want.allowed:
                expected_posts = [("message", want.reply)] if kind is Kind.COMMAND else []
                if texts != expected_posts:
                    wrong.append(f"{label}: posted {texts!r}, want {expected_posts!r}")
            elif kind is Kind.COMMAND and (
                not texts or {text for _, text in texts} & {GROUP_NOTE, REFUSED}
            ):
                wrong.append(f"{label}: allowed, but the bot answered {texts!r}")
            if query_id is not None:
                answer = await client.callback_answer(query_id)
                if not answer["answered"]:
                    wrong.append(f"{label}: the press was never answered")
                elif not want.allowed and answer["text"] != want.reply:
                    wrong.append(f"{label}: toast {answer['text']!r}, want {want.reply!r}")
                elif want.allowed and answer["text"] in (PRIVATE_BUTTON, REFUSED):
                    wrong.append(f"{label}: allowed, but the toast said {answer['text']!r}")

            audit = rows(
                settings,
                "SELECT actor, action, allowed FROM audit_log WHERE id > ? ORDER BY id",
                (audit_from,),
            )
            entry = access.entry(kind, name)
            assert entry is not None
            if want.audited is not None:
                want_audit = [("refused", want.audited, 0)]
            elif entry.role is not Role.PARTICIPANT and (kind, name) != (Kind.BUTTON, "upd"):
                # Allowed uses are audited with who did it; a draft's own buttons only on Send.
                want_audit = [(str(user_id), entry.action, 1)]
            else:
                want_audit = []
            if audit != want_audit:
                wrong.append(f"{label}: audit {audit!r}, want {want_audit!r}")
            now_groups = rows(settings, "SELECT count(*) FROM participants WHERE chat_id < 0")
            if now_groups != groups_taking_part:
                wrong.append(f"{label}: a group became a participant")
                groups_taking_part = now_groups
            if chat != "private" and rows(settings, "SELECT count(*) FROM answers") != answers:
                wrong.append(f"{label}: answers were stored from a group")
            answers = rows(settings, "SELECT count(*) FROM answers")

        if app.bot_data["everystage.services"].stage.name != stage:
            wrong.append(f"the project moved from the {stage} stage")
    assert not wrong, f"{len(wrong)} problems:\n" + "\n".join(wrong)
    assert rows(settings, "SELECT taken_by FROM alerts") == [(None,)]
    assert rows(settings, "SELECT count(*) FROM updates") == [(0,)]
    assert rows(settings, "SELECT count(*) FROM participants") == [(1,)]
    # Refusals never name anyone (a participant writing in the team's chat counts as a
    # coordinator there, so allowed uses carry the user's id, as coordinator_only records).
    refusals = rows(settings, "SELECT DISTINCT actor, detail FROM audit_log WHERE allowed = 0")
    assert refusals == [("refused", "")]
    everything_in_other_group = [m for m in await other_group.messages() if m.from_bot]
    assert {m.text for m in everything_in_other_group if not m.buttons} == {GROUP_NOTE}
    assert not any(m.document for m in everything_in_other_group)


async def test_updates_without_a_chat_reach_no_feature(
    sandbox: Sandbox, client: SandboxClient, make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    version = settings.consent.version
    async with running(settings) as app:
        person = {"id": OUTSIDER, "is_bot": False, "first_name": "Oz"}
        for number, payload in enumerate(
            (
                # A button on an inline message (no chat), even one that looks like consent.
                {
                    "callback_query": {
                        "id": "1",
                        "from": person,
                        "chat_instance": "1",
                        "inline_message_id": "inline-1",
                        "data": f"consent:yes:{version}",
                    }
                },
                {"inline_query": {"id": "2", "from": person, "query": "/stats", "offset": ""}},
                {
                    "poll_answer": {
                        "poll_id": "3",
                        "user": person,
                        "option_ids": [0],
                        "option_persistent_ids": ["0"],
                    }
                },
                {
                    "channel_post": {
                        "message_id": 1,
                        "date": 0,
                        "chat": {"id": OTHER_GROUP, "type": "channel", "title": "News"},
                        "text": "/stats",
                        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                    }
                },
            ),
            start=900_000,  # far from the sandbox's own update ids
        ):
            update = Update.de_json({"update_id": number, **payload}, app.bot)
            await app.update_queue.put(update)
        await settle(sandbox, app)
    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]
    assert rows(settings, "SELECT count(*) FROM audit_log") == [(0,)]
    assert not any(r["method"] == "sendMessage" for r in sandbox.requests)
    # Stopped at the gate: no handler ever tried them (the consent one would fail on no chat).
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_plain_messages_in_groups_get_nothing_but_the_note_for_commands_and_mentions(
    sandbox: Sandbox, client: SandboxClient, make_settings: Any
) -> None:
    settings = make_settings(
        coordinators__user_ids=f"[{COORDINATOR}]", coordinators__chat_id=str(TEAM_CHAT)
    )
    async with running(settings, clock=FakeClock(SATURDAY)) as app:
        await client.user(COORDINATOR, first_name="Jo")
        team = await client.group(TEAM_CHAT, "Co-production team", added_by=COORDINATOR)
        other_group = await client.group(OTHER_GROUP, "Drop-in regulars", added_by=COORDINATOR)
        start = sandbox.world.last_seq
        for number, group in enumerate((team, other_group)):
            # The sandbox marks no mentions, so this one comes as Telegram would send it.
            mention = {
                "message_id": 1000 + number,
                "date": 0,
                "chat": {"id": group.chat_id, "type": "group", "title": "A group"},
                "from": {"id": COORDINATOR, "is_bot": False, "first_name": "Jo"},
                "text": "@everystage_bot how are we doing?",
                "entities": [{"type": "mention", "offset": 0, "length": 15}],
            }
            await app.update_queue.put(
                Update.de_json({"update_id": 900_000 + number, "message": mention}, app.bot)
            )
            await group.send(COORDINATOR, "/frobnicate")
            await settle(sandbox, app)
        said = {
            chat: [e["message"]["text"] for e in events]
            for chat, events in bot_events_since(sandbox, start).items()
        }
    # In the team's chat a mention is only for an open /update draft (there is none).
    assert said == {TEAM_CHAT: [GROUP_NOTE], OTHER_GROUP: [GROUP_NOTE, GROUP_NOTE]}
    assert rows(settings, "SELECT count(*) FROM participants") == [(0,)]
    assert rows(settings, "SELECT count(*) FROM audit_log") == [(0,)]
