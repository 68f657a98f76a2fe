"""Who may use which command or button, and where: one registry and one pure decision.

Every update passes through one guard (:mod:`bot.handlers.guard`, handler group -100) before any
feature sees it. The guard names the command (the ``bot_command`` entity at offset 0, with any
``@botname`` suffix dropped; a command for another bot is not ours) or the button (its callback
data up to the first ``:``), asks :func:`decide`, and on a refusal replies and stops the update
there. Edited messages are read the same way, so an edit cannot slip a command past it.

Each command and button has a minimum :class:`Role`; :func:`role_of` says who someone is where
they are, and a command or button is allowed when that role is at least its minimum:

- **Participant** (anyone, in a private chat): /start, /checkin, /settings, /mydata, /delete,
  /pause, /resume, /stop, /support, /help, /privacy, /suggest and the buttons ``consent``,
  ``a``, ``delete``, ``n``, ``set``, ``quote``, ``got``. They work only in private chats. A
  participant command in a group (the coordinators' chat included) gets only the short "talk
  to me privately" note (``hint.group``); a participant button pressed anywhere but a private
  chat gets only a short toast (``hint.private_button``). Nothing is stored, nothing else is
  posted, nothing audited.
- **Peer researcher** (``team.peer_researchers``, in their private chat): /digest, /stats,
  /share (a coordinator's sends; a peer researcher's only shows them the message), /update (a
  peer researcher's draft goes to the coordinators, who send it), and the buttons ``upd`` (a
  draft's own) and ``sug`` (triaging suggestions).
- **Coordinator** (``coordinators.user_ids`` in their private chat, or anyone in the
  coordinators' chat, ``coordinators.chat_id``): all of the above, and /stage, /ask, /reload,
  /alerts, /listen (which plays voice notes in a private chat only), and the buttons
  ``stage``, ``alert``, ``listen`` and ``updp`` (sending a peer researcher's draft). The
  coordinators' chat must hold coordinators only: peer researchers use their private chat.

Below its minimum, in a private chat or the coordinators' chat: the polite refusal
(``admin.refused``, as a message or a toast). In any other group nobody has a team role, so a
team command there gets only ``hint.group`` and a team button the ``admin.refused`` toast;
nothing of the project is posted. Every refusal of a team command or button is audited as
``refused`` (never with the person's id); allowed uses are audited by
:func:`bot.handlers.auditing.team_only` with the person's id. Handlers that check who someone
is (a draft's text, a reply to a suggestion, whether /share sends) ask :func:`role_of` or
:func:`decide` through :mod:`bot.handlers.auditing`, never the settings directly.

- **Plain messages** (text, voice, stickers...) are left to the handlers' own filters:
  participants' handlers take private chats only; in other groups only the note for commands and
  mentions is sent; in the coordinators' chat text only feeds a coordinator's open /update
  draft, or answers a suggestion when it replies to the bot's question for it. Commands and
  buttons not in the registry keep their existing answers (the unknown command hint, the group
  note, the stale-button toast).
- **Other updates** (inline queries, poll answers, chat member updates, channel posts, a button
  on an inline message...) never reach participant or team features: the guard stops
  everything that is not a message, an edited message or a button pressed in a chat.

A new command is one line in :data:`COMMANDS` (its minimum role, and for a team command the
name the audit log gives its use); a new kind of button is one member of
:class:`bot.callbacks.Button`, which carries the same. A test checks every ``CommandHandler``
and ``CallbackQueryHandler`` of the built Application against them, and another decides every
command and button for every role in every kind of chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.callbacks import Button, Role
from bot.settings import Settings

__all__ = ["Decision", "Kind", "Role", "decide", "entry", "role_of", "team_chats"]


class Kind(Enum):
    """What the person did."""

    COMMAND = "command"
    BUTTON = "button"


@dataclass(frozen=True)
class Entry:
    """One command or button prefix: the least role that may use it, and its name in the audit
    log (team commands and buttons only)."""

    role: Role
    action: str = ""


def _participant() -> Entry:
    return Entry(Role.PARTICIPANT)


COMMANDS: dict[str, Entry] = {
    "start": _participant(),
    "checkin": _participant(),
    "settings": _participant(),
    "mydata": _participant(),
    "delete": _participant(),
    "pause": _participant(),
    "resume": _participant(),
    "stop": _participant(),
    "support": _participant(),
    "help": _participant(),
    "privacy": _participant(),
    "suggest": _participant(),
    "language": _participant(),
    "stats": Entry(Role.PEER_RESEARCHER, "stats"),
    "digest": Entry(Role.PEER_RESEARCHER, "digest"),
    "share": Entry(Role.PEER_RESEARCHER, "share"),
    "update": Entry(Role.PEER_RESEARCHER, "update"),
    "stage": Entry(Role.COORDINATOR, "stage"),
    "ask": Entry(Role.COORDINATOR, "ask"),
    "reload": Entry(Role.COORDINATOR, "reload"),
    "alerts": Entry(Role.COORDINATOR, "alerts"),
    "listen": Entry(Role.COORDINATOR, "listen"),  # voice notes nobody has heard yet
    "decide": Entry(Role.PEER_RESEARCHER, "decide"),  # a peer researcher's goes to coordinators
    "paid": Entry(Role.COORDINATOR, "paid"),
}

# Callback data prefixes (up to the first ':'), from the one table of buttons.
BUTTONS: dict[str, Entry] = {b.prefix: Entry(b.role, b.audit) for b in Button}

PRIVATE = "private"
GROUP_NOTE = "hint.group"
PRIVATE_BUTTON = "hint.private_button"
REFUSED = "admin.refused"


@dataclass(frozen=True)
class Decision:
    """Go ahead, or refuse: the locale key to reply with (a message for a command, a toast for
    a button; None to say nothing) and, for the team's features, the action to audit as
    refused."""

    allowed: bool
    reply: str | None = None
    audit: str | None = None


ALLOWED = Decision(True)


def entry(kind: Kind, name: str) -> Entry | None:
    """The registry entry for a command name or a button prefix; None if it is not ours."""
    return (COMMANDS if kind is Kind.COMMAND else BUTTONS).get(name)


def in_team_chat(chat_id: int | None, settings: Settings) -> bool:
    """Whether this is the coordinators' chat."""
    team = settings.coordinators.chat_id
    return chat_id is not None and team is not None and chat_id == team


def role_of(
    chat_type: str | None, chat_id: int | None, user_id: int | None, settings: Settings
) -> Role:
    """Who this person is in this chat: the one answer every check uses.

    In a private chat: a listed coordinator, a listed peer researcher, or a participant. In
    the coordinators' chat anyone writing counts as a coordinator. In any other chat nobody
    has a team role.
    """
    if chat_type == PRIVATE:
        if user_id is None:
            return Role.PARTICIPANT
        if user_id in settings.coordinators.user_ids:
            return Role.COORDINATOR
        if user_id in settings.team.peer_researchers:
            return Role.PEER_RESEARCHER
        return Role.PARTICIPANT
    if in_team_chat(chat_id, settings):
        return Role.COORDINATOR
    return Role.PARTICIPANT


def team_chats(settings: Settings, least: Role) -> list[int]:
    """The chats that reach everyone with at least ``least`` role: the coordinators' chat (or,
    without one, each coordinator's private chat), and for peer researchers each one's."""
    team = settings.coordinators
    chats = [team.chat_id] if team.chat_id is not None else list(team.user_ids)
    if least <= Role.PEER_RESEARCHER:
        chats += [user_id for user_id in settings.team.peer_researchers if user_id not in chats]
    return chats


def decide(
    kind: Kind,
    name: str,
    chat_type: str | None,
    chat_id: int | None,
    user_id: int | None,
    settings: Settings,
) -> Decision:
    """May this command or button be used here by this person? Pure: no I/O."""
    found = entry(kind, name)
    if found is None:
        return ALLOWED  # not ours: the unknown-command and stale-button handlers answer
    if found.role is Role.PARTICIPANT:
        if chat_type == PRIVATE:
            return ALLOWED
        return Decision(False, GROUP_NOTE if kind is Kind.COMMAND else PRIVATE_BUTTON)
    if role_of(chat_type, chat_id, user_id, settings) >= found.role:
        return ALLOWED
    if chat_type == PRIVATE or in_team_chat(chat_id, settings) or kind is Kind.BUTTON:
        return Decision(False, REFUSED, found.action)
    return Decision(False, GROUP_NOTE, found.action)
