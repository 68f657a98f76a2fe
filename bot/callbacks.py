"""Every kind of inline button, in one table: its callback prefix, who it is for, how its data is
built and parsed, and the handler pattern that routes it.

Callback data is ``"<prefix>:<arg>:<arg>..."``, at most 64 bytes (Telegram's limit), and never
holds content: ids, indexes and short words only. Buttons are built with :meth:`Button.data`,
handlers registered with :meth:`Button.handler`, and a press read back with :func:`parse`; the
guard (``bot/access.py``) takes each button's minimum role from here, so a new button cannot
skip it. Like Ultimate Pollbot's ``CallbackType``: one enum, used for both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from telegram.ext import CallbackQueryHandler

MAX_DATA = 64  # bytes of UTF-8, Telegram's limit


class Role(IntEnum):
    """Who someone is, where they are, in order: each role may do what the ones below may.

    The minimum role of every command (``bot.access.COMMANDS``) and button (:class:`Button`);
    ``bot.access.role_of`` says who someone is.
    """

    PARTICIPANT = 1  # anyone, in a private chat
    PEER_RESEARCHER = 2  # [team] peer_researchers, in their private chat
    COORDINATOR = 3  # coordinators.user_ids in their private chat; anyone in coordinators.chat_id


class Button(Enum):
    """A kind of button: (prefix, minimum role, what the audit log calls a team member's use)."""

    CONSENT = ("consent", Role.PARTICIPANT, "")  # consent:<yes|no|more>:<version>[:<code>]
    ANSWER = ("a", Role.PARTICIPANT, "")  # a:<step>:<c|t|d|s>[:<option>]
    DELETE = ("delete", Role.PARTICIPANT, "")  # delete:<yes|no>
    NUDGE = ("n", Role.PARTICIPANT, "")  # n:<occurrence>:<start|hour|tomorrow>
    SETTINGS = ("set", Role.PARTICIPANT, "")  # set:<menu|f|q|z|h|r|close>:<value>
    QUOTE = ("quote", Role.PARTICIPANT, "")  # quote:<yes|no>
    GOT_IT = ("got", Role.PARTICIPANT, "")  # got:<update id>:<yes|partly|no>
    VOTE = ("vote", Role.PARTICIPANT, "")  # vote:<decision>:<option>:<1 choose|0 take back>
    LANGUAGE = ("lang", Role.PARTICIPANT, "")  # lang:<language|->[:<invite code>]
    HEARD_WORDS = ("vw", Role.PARTICIPANT, "")  # vw:<answer id>:<ok|fix|audio>
    UPDATE = ("upd", Role.PEER_RESEARCHER, "update")  # upd:<action>[:<index>[:<n>]]
    SUGGESTION = ("sug", Role.PEER_RESEARCHER, "suggestion")  # sug:<id>:<adopt|later|reply|...>
    DRAFT_DECISION = ("decd", Role.PEER_RESEARCHER, "decision-draft")  # decd:<put|x>
    STAGE = ("stage", Role.COORDINATOR, "stage-change")  # stage:<to|yes|no>:<index>
    ALERT = ("alert", Role.COORDINATOR, "alert-take")  # alert:<id>:<take|list>
    DRAFTED = ("updp", Role.COORDINATOR, "update-drafted")  # updp:<draft>:<s|x>
    DECISION = ("dec", Role.COORDINATOR, "decision")  # dec:<put|x|close|did>[:<number>]
    LISTEN = ("listen", Role.COORDINATOR, "listen-heard")  # listen:<answer>:<fine|follow|type>|next

    def __init__(self, prefix: str, role: Role, audit: str) -> None:
        self.prefix = prefix
        self.role = role
        self.audit = audit

    def data(self, *args: object) -> str:
        """The callback data for a button of this kind carrying ``args``."""
        data = ":".join((self.prefix, *map(str, args)))
        if len(data.encode()) > MAX_DATA:
            raise ValueError(f"callback data over {MAX_DATA} bytes for {self.name}")
        return data

    @property
    def pattern(self) -> str:
        """The handler pattern: this prefix, then nothing or ':'."""
        return rf"^{self.prefix}(:|$)"

    def handler(
        self, callback: Callable[..., Coroutine[Any, Any, Any]]
    ) -> CallbackQueryHandler[Any, Any]:
        """A CallbackQueryHandler for presses of this kind of button."""
        return CallbackQueryHandler(callback, pattern=self.pattern)


BY_PREFIX: dict[str, Button] = {button.prefix: button for button in Button}


@dataclass(frozen=True)
class Pressed:
    """A press read back: which kind of button, and its arguments."""

    button: Button
    args: tuple[str, ...]

    def arg(self, index: int, default: str = "") -> str:
        """The argument at ``index``, or ``default`` when the data is shorter."""
        return self.args[index] if index < len(self.args) else default


def parse(data: str | None) -> Pressed | None:
    """Split callback data; None for anything that is not one of our buttons."""
    if not data:
        return None
    prefix, *args = data.split(":")
    button = BY_PREFIX.get(prefix)
    return Pressed(button, tuple(args)) if button is not None else None
