"""Who may use which command or button, and where: one registry and one pure decision.

Every update passes through one guard (:mod:`bot.handlers.guard`, handler group -100) before any
feature sees it. The guard names the command (the ``bot_command`` entity at offset 0, with any
``@botname`` suffix dropped; a command for another bot is not ours) or the button (its callback
data up to the first ``:``), asks :func:`decide`, and on a refusal replies and stops the update
there. Edited messages are read the same way, so an edit cannot slip a command past it.

The policy:

- **Participant commands** (/start, /checkin, /settings, /mydata, /delete, /pause, /resume,
  /stop, /support, /help, /privacy, /suggest) and **participant buttons** (``consent``, ``a``,
  ``delete``, ``n``, ``set``, ``quote``, ``got``, ``vote``) work only in private chats. A participant
  command in a group (the coordinators' chat included) gets only the short "talk to me
  privately" note (``hint.group``); a participant button pressed anywhere but a private chat
  gets only a short toast (``hint.private_button``). Nothing is stored, nothing else is posted,
  nothing audited.
- **Coordinator commands** (/stats, /stage, /ask, /share, /reload, /update, /alerts, /digest,
  /decide, /paid) and **coordinator buttons** (``stage``, ``upd``, ``alert``, ``sug``,
  ``dec``) work only (a) in a
  private chat with a listed coordinator (``coordinators.user_ids``), or (b) in the
  coordinators' chat (``coordinators.chat_id``), where anyone writing counts. In a private chat
  with anyone else: the polite refusal (``admin.refused``, as a message or a toast). In any
  other group, even from a listed coordinator, nothing of the project is posted: only
  ``hint.group`` for a command and the ``admin.refused`` toast for a button. Every refusal is
  audited as ``refused`` (never with the person's id); allowed uses are audited by
  ``coordinator_only`` with the coordinator's id.
- **Plain messages** (text, voice, stickers...) are left to the handlers' own filters:
  participants' handlers take private chats only; in other groups only the note for commands and
  mentions is sent; in the coordinators' chat text only feeds a coordinator's open /update
  draft, or answers a suggestion when it replies to the bot's question for it. Commands and
  buttons not in the registry keep their existing answers (the unknown command hint, the group
  note, the stale-button toast).
- **Other updates** (inline queries, poll answers, chat member updates, channel posts, a button
  on an inline message...) never reach participant or coordinator features: the guard stops
  everything that is not a message, an edited message or a button pressed in a chat.

A new command must be added to :data:`COMMANDS`; a new kind of button is a member of
:class:`bot.callbacks.Button`, which carries its audience. A test checks every
``CommandHandler`` and ``CallbackQueryHandler`` of the built Application against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.callbacks import Audience, Button
from bot.settings import CoordinatorSettings, Settings

__all__ = ["Audience", "Decision", "Kind", "decide", "entry", "is_coordinator_here"]


class Kind(Enum):
    """What the person did."""

    COMMAND = "command"
    BUTTON = "button"


@dataclass(frozen=True)
class Entry:
    """One command or button prefix: its audience and its name in the audit log."""

    audience: Audience
    action: str = ""


def _participant() -> Entry:
    return Entry(Audience.PARTICIPANT)


def _coordinator(action: str) -> Entry:
    return Entry(Audience.COORDINATOR, action)


COMMANDS: dict[str, Entry] = {
    **{
        name: _participant()
        for name in (
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
            "suggest",
        )
    },
    **{
        name: _coordinator(name)
        for name in (
            "stats",
            "stage",
            "ask",
            "share",
            "reload",
            "update",
            "alerts",
            "digest",
            "decide",
            "paid",
        )
    },
}

# Callback data prefixes (up to the first ':'), from the one table of buttons. The audit names
# match ``coordinator_only``'s.
BUTTONS: dict[str, Entry] = {b.prefix: Entry(b.audience, b.audit) for b in Button}

PRIVATE = "private"
GROUP_NOTE = "hint.group"
PRIVATE_BUTTON = "hint.private_button"
REFUSED = "admin.refused"


@dataclass(frozen=True)
class Decision:
    """Go ahead, or refuse: the locale key to reply with (a message for a command, a toast for
    a button; None to say nothing) and, for coordinators' features, the action to audit as
    refused."""

    allowed: bool
    reply: str | None = None
    audit: str | None = None


ALLOWED = Decision(True)


def entry(kind: Kind, name: str) -> Entry | None:
    """The registry entry for a command name or a button prefix; None if it is not ours."""
    return (COMMANDS if kind is Kind.COMMAND else BUTTONS).get(name)


def is_coordinator_here(
    chat_type: str | None, chat_id: int | None, user_id: int | None, team: CoordinatorSettings
) -> bool:
    """A listed coordinator in their private chat, or anyone in the coordinators' chat."""
    if chat_type == PRIVATE:
        return user_id is not None and user_id in team.user_ids
    return chat_id is not None and team.chat_id is not None and chat_id == team.chat_id


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
    if found.audience is Audience.PARTICIPANT:
        if chat_type == PRIVATE:
            return ALLOWED
        return Decision(False, GROUP_NOTE if kind is Kind.COMMAND else PRIVATE_BUTTON)
    if is_coordinator_here(chat_type, chat_id, user_id, settings.coordinators):
        return ALLOWED
    if chat_type == PRIVATE or kind is Kind.BUTTON:
        return Decision(False, REFUSED, found.action)
    return Decision(False, GROUP_NOTE, found.action)
