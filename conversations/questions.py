"""What every question is and can do, whatever its kind.

:class:`QuestionKind` is the base of each kind in :mod:`conversations.kinds`: the keys every
question has (``id``, ``text``, ``required``, ``show_if``) and the questions the rest of
Everystage asks a kind instead of naming it. The engine asks what a press, a typed answer or
"Done" records (an :data:`Outcome`); the digest how its answers add up (:class:`Aggregate`);
exports how a stored answer is typed (:class:`Cell`); ``check-config`` what answers a question
written in TOML can have. The defaults suit a question answered in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        max_length=32,
        description="lower-case letters, digits, '-' and '_'",
    ),
]
Answer = str | int | list[str]
"""A stored answer value: option text (choice), list of option texts (multi), an int (scale),
"yes"/"no" (yesno) or free text (text, reflection)."""

YES, NO = "yes", "no"


class Content(BaseModel):
    """Content as coordinators write it: no unknown keys, never changed once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ShowIf(Content):
    """Ask a question only when an earlier answer matches."""

    question: Identifier
    equals: str | int | None = None
    any_of: list[str | int] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> ShowIf:
        if (self.equals is None) == (self.any_of is None):
            raise ValueError("give exactly one of 'equals' or 'any_of'")
        return self

    @property
    def values(self) -> list[str | int]:
        """The answers that make the question show."""
        return [self.equals] if self.equals is not None else list(self.any_of or [])

    def matches(self, answer: Answer | None) -> bool:
        """True when ``answer`` (the earlier question's answer) satisfies the condition."""
        if answer is None:
            return False
        wanted = self.values
        if isinstance(answer, list):
            return any(value in wanted for value in answer)
        return answer in wanted


# ---------------------------------------------------------------------------------------------
# What a kind answers with.


class Hint(StrEnum):
    """Why an input was not taken; the edge shows the locale text ``hint.<value>``."""

    USE_BUTTONS = "use_buttons"
    NEED_TEXT = "need_text"
    NO_VOICE = "no_voice"
    REQUIRED = "required"
    PICK_ONE = "pick_one"


@dataclass(frozen=True)
class Take:
    """Record ``value`` as the answer and move on."""

    value: Answer


@dataclass(frozen=True)
class Tick:
    """Tick or untick option ``option`` and ask the same question again."""

    option: int


@dataclass(frozen=True)
class Refuse:
    """Not an answer here: ask again with this hint (a :class:`Hint`, or a kind's own name
    with a ``hint.<name>`` locale text)."""

    hint: str


Outcome = Take | Tick | Refuse | None
"""What an input means for a question; None: it belongs to another question (an old button)."""


class Aggregate(StrEnum):
    """How the weekly digest sums up a kind's answers."""

    NONE = "none"  # not in the digest's figures
    DISTRIBUTION = "distribution"  # how many gave each answer
    MEAN = "mean"  # the distribution, and the average answer (numbers)
    SHARE_YES = "percent_yes"  # the distribution, and the share who said yes


class Cell(StrEnum):
    """How an export types a kind's stored answer."""

    TEXT = "text"
    NUMBER = "number"  # a number cell, so a spreadsheet can average it
    LIST = "list"  # several texts, joined with "; "


def answer_text(value: Answer) -> str:
    """An answer as short text: '4', 'yes', 'Meals, Showers' (what any kind shows by default)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def texts_in(values: Any) -> list[str]:
    """The text entries of a raw TOML list (other entries are the model's to report)."""
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


# ---------------------------------------------------------------------------------------------
# The base of every kind.


class QuestionKind(Content):
    """What every question has, and what each kind is asked (its answers to each).

    A kind is a subclass with ``kind: Literal["<name>"]``, its own keys, and overrides of what
    differs, registered with :func:`conversations.kinds.kind`.
    """

    id: Identifier
    text: str = Field(min_length=1, max_length=1000)
    required: bool = False
    show_if: ShowIf | None = None
    audio: str | dict[str, str] | None = None
    """A recording of the question, sent with its text: one file, or one per language
    (``audio.pl = ...``). A path as written, relative to the config file that holds it, until
    the edge (bot/prompt_audio.py) checks the file and makes it absolute."""

    takes_buttons: ClassVar[bool] = False
    """Answered by pressing one of its buttons (and so something ``show_if`` can depend on)."""
    aggregate: ClassVar[Aggregate] = Aggregate.NONE
    quotable: ClassVar[bool] = False
    """Typed answers may be quoted in the digest (from people who said yes to that)."""
    cell: ClassVar[Cell] = Cell.TEXT
    example: ClassVar[dict[str, Any]] = {}
    """A smallest table of this kind, as a coordinator writes it in TOML (tests use it)."""
    example_answer: ClassVar[str] = "in my own words"
    """Something a person might type that answers it, if it is answered in words (tests)."""
    check_keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(words in one of its model's own error messages, the key check-config points at)."""
    translatable: ClassVar[tuple[str, ...]] = ("text",)
    """Its keys a participant reads, which the config may give per language (bot/translations)."""

    # What the person sees and may answer with.

    def button_values(self) -> list[str] | list[int] | None:
        """The values its buttons stand for, in order; None when answered in words."""
        return None

    def button_labels(self) -> list[str] | None:
        """What its buttons say, in the language it is in; None when answered in words.

        The values (:meth:`button_values`) are what is stored, the same in every language."""
        values = self.button_values()
        return None if values is None else [str(value) for value in values]

    def translated(self, texts: dict[str, Any]) -> Self:
        """A copy with these ``translatable`` keys in another language (already checked)."""
        return self.model_copy(update=texts)

    @field_validator("audio")
    @classmethod
    def _audio_named(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        paths = value.values() if isinstance(value, dict) else [value]
        if any(path == "" for path in paths):
            raise ValueError('give a file, like audio = "prompts/week.ogg"')
        return value

    def audio_path(self, language: str, default: str) -> str | None:
        """The recording a person reading ``language`` hears: theirs, else the default
        language's (``default``), else none."""
        if isinstance(self.audio, dict):
            return self.audio.get(language) or self.audio.get(default)
        return self.audio

    @property
    def takes_voice(self) -> bool:
        """A voice note is an answer here."""
        return False

    @property
    def follow_up_text(self) -> str | None:
        """A question asked after a (not skipped) answer, stored as a text answer of its own."""
        return None

    # What an input records (see Outcome).

    def typed(self, text: str) -> Outcome:
        """A text message while this question is asked."""
        return Take(text)

    def pressed(self, option: int) -> Outcome:
        """One of its buttons (an index into :meth:`button_values`)."""
        return Refuse(Hint.NEED_TEXT)

    def done(self, selected: tuple[int, ...]) -> Outcome:
        """'Done', with the options ticked so far."""
        return Refuse(Hint.NEED_TEXT)

    # How answers read and add up.

    def describe(self, value: Answer) -> str:
        """An answer in full, with what this question says about it ('5 (Really good)')."""
        return answer_text(value)

    def buckets(self) -> list[tuple[Answer, str]]:
        """The answers the digest's distribution lists first, labelled; others seen follow."""
        return []

    # Checks on the raw TOML (conversations.checks), before the model reads it.

    @classmethod
    def raw_answers(cls, data: dict[str, Any]) -> list[Any] | None:
        """The answers a question written as ``data`` can have; None when any text goes."""
        return None

    @classmethod
    def raw_problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        """(key, message) for mistakes the model cannot see in a question written as ``data``."""
        return []


class ButtonQuestion(QuestionKind):
    """A question answered by pressing a button, or by typing what one says ('3', 'yes')."""

    takes_buttons: ClassVar[bool] = True

    def button_values(self) -> list[str] | list[int]:
        raise NotImplementedError

    def match(self, typed: str) -> int | None:
        """The button a typed answer names exactly (case aside), if any: what it says, or the
        value it stands for (an option in the project's default language)."""
        wanted = typed.strip().casefold()
        for names in (self.button_labels() or [], self.button_values()):
            for index, value in enumerate(names):
                if str(value).casefold() == wanted:
                    return index
        return None

    def typed(self, text: str) -> Outcome:
        option = self.match(text)
        return Refuse(Hint.USE_BUTTONS) if option is None else self.pressed(option)

    def pressed(self, option: int) -> Outcome:
        values = self.button_values()
        return Take(values[option]) if 0 <= option < len(values) else None

    def done(self, selected: tuple[int, ...]) -> Outcome:
        return None  # only a question with ticks has a Done button
