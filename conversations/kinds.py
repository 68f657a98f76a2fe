"""Every kind of question, one class each: its keys, its buttons, what its answers record, how
they read and how the digest and exports treat them.

:data:`KINDS` is the registry (``kind`` name to class, in the order check-config lists them);
:data:`Question` (the model's union of kinds) and :data:`QUESTION_KINDS` are built from it.
Nothing else names a kind: the engine, the digest's figures and queries, exports, /mydata and
check-config ask the class (see :class:`conversations.questions.QuestionKind`), and each kind
has one renderer in ``bot/renderers.py``. A new kind is a class here, registered with
:func:`register`, a renderer there, and its locale text.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, get_args

from pydantic import Field, PrivateAttr, model_validator

from conversations.questions import (
    NO,
    YES,
    Aggregate,
    Answer,
    ButtonQuestion,
    Cell,
    Hint,
    Outcome,
    QuestionKind,
    Refuse,
    Take,
    Tick,
    answer_text,
    texts_in,
)

KINDS: dict[str, type[QuestionKind]] = {}
_Kind = TypeVar("_Kind", bound=type[QuestionKind])


def register(cls: _Kind) -> _Kind:
    """Register a question kind under the name its ``kind`` field takes."""
    (name,) = get_args(cls.model_fields["kind"].annotation)
    if not re.fullmatch(r"[a-z][a-z_]*", name):  # it is written into SQL (storage.figures)
        raise ValueError(f"a question kind's name is lower-case letters and '_': {name!r}")
    KINDS[name] = cls
    return cls


def kind_of(name: str) -> type[QuestionKind]:
    """The class of a stored answer's kind; the plain base for a kind no longer known."""
    return KINDS.get(name, QuestionKind)


# ---------------------------------------------------------------------------------------------
# The kinds, in the order check-config lists them.

Option = Annotated[str, Field(min_length=1, max_length=60)]


class _WithOptions(ButtonQuestion):
    """Buttons with texts the coordinator writes.

    ``options`` are in the project's default language, and are what an answer stores (the
    options' ids, the same in every language); in another language the buttons say ``labels``.
    """

    options: list[Option] = Field(min_length=1)
    _labels: tuple[str, ...] | None = PrivateAttr(default=None)

    translatable: ClassVar[tuple[str, ...]] = ("text", "options")

    @property
    def labels(self) -> list[str]:
        """What the buttons say: the options in the language this question is in."""
        return list(self._labels) if self._labels is not None else list(self.options)

    def button_values(self) -> list[str]:
        return list(self.options)

    def button_labels(self) -> list[str]:
        return self.labels

    def translated(self, texts: dict[str, Any]) -> Self:
        texts = dict(texts)
        labels = texts.pop("options", None)
        copy = self.model_copy(update=texts)
        if labels is not None:
            copy._labels = tuple(labels)
        return copy

    def describe(self, value: Answer) -> str:
        said = dict(zip(self.options, self.labels, strict=True))
        if isinstance(value, list):
            return answer_text([said.get(v, v) for v in value])
        return said.get(value, answer_text(value)) if isinstance(value, str) else answer_text(value)

    @classmethod
    def raw_answers(cls, data: dict[str, Any]) -> list[Any] | None:
        options = data.get("options")
        return texts_in(options) if isinstance(options, list) else None

    @classmethod
    def raw_problems(cls, data: dict[str, Any]) -> list[tuple[str, str]]:
        options = texts_in(data.get("options"))
        if len(set(options)) != len(options):
            return [("options", "lists the same option twice; each once")]
        return []


@register
class ChoiceQuestion(_WithOptions):
    """One of several buttons."""

    kind: Literal["choice"]
    aggregate: ClassVar[Aggregate] = Aggregate.DISTRIBUTION
    example: ClassVar[dict[str, Any]] = {"options": ["Hours", "Staff"]}

    def buckets(self) -> list[tuple[Answer, str]]:
        return [(option, option) for option in self.options]


@register
class MultiQuestion(_WithOptions):
    """Several buttons that toggle, then Done."""

    kind: Literal["multi"]
    cell: ClassVar[Cell] = Cell.LIST
    example: ClassVar[dict[str, Any]] = {"options": ["Meals", "Showers"]}

    def pressed(self, option: int) -> Outcome:
        return Tick(option) if 0 <= option < len(self.options) else None

    def done(self, selected: tuple[int, ...]) -> Outcome:
        if not selected:
            return Refuse(Hint.REQUIRED if self.required else Hint.PICK_ONE)
        return Take([self.options[i] for i in sorted(selected)])


@register
class ScaleQuestion(ButtonQuestion):
    """A row of numbered buttons, with a label for each end."""

    kind: Literal["scale"]
    min: int = 1
    max: int = 5
    min_label: str = ""
    max_label: str = ""

    MAX_SPAN: ClassVar[int] = 10  # at most 11 points, so the buttons fit on a phone
    translatable: ClassVar[tuple[str, ...]] = ("text", "min_label", "max_label")
    aggregate: ClassVar[Aggregate] = Aggregate.MEAN
    cell: ClassVar[Cell] = Cell.NUMBER
    example: ClassVar[dict[str, Any]] = {"min": 1, "max": 5}
    check_keys: ClassVar[tuple[tuple[str, str], ...]] = (
        ("min (", "max"),
        ("a scale can have", "max"),
    )

    @model_validator(mode="after")
    def _range(self) -> ScaleQuestion:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be smaller than max ({self.max})")
        if self.max - self.min > self.MAX_SPAN:
            raise ValueError("a scale can have at most 11 points so the buttons fit on a phone")
        return self

    @property
    def values(self) -> list[int]:
        """Every point on the scale, lowest first."""
        return list(range(self.min, self.max + 1))

    def button_values(self) -> list[int]:
        return self.values

    def describe(self, value: Answer) -> str:
        if isinstance(value, int):
            label = {self.min: self.min_label, self.max: self.max_label}.get(value)
            if label:
                return f"{value} ({label})"
        return answer_text(value)

    def buckets(self) -> list[tuple[Answer, str]]:
        return [(value, str(value)) for value in self.values]

    @classmethod
    def raw_answers(cls, data: dict[str, Any]) -> list[Any] | None:
        low, high = data.get("min", 1), data.get("max", 5)
        if isinstance(low, int) and isinstance(high, int) and 0 < high - low <= cls.MAX_SPAN:
            return list(range(low, high + 1))
        return None


@register
class YesNoQuestion(ButtonQuestion):
    """Yes or no."""

    kind: Literal["yesno"]
    aggregate: ClassVar[Aggregate] = Aggregate.SHARE_YES

    def button_values(self) -> list[str]:
        return [YES, NO]

    def match(self, typed: str) -> int | None:
        wanted = typed.strip().casefold()
        return {YES: 0, NO: 1, "y": 0, "n": 1}.get(wanted)

    def buckets(self) -> list[tuple[Answer, str]]:
        return [(YES, "Yes"), (NO, "No")]

    @classmethod
    def raw_answers(cls, data: dict[str, Any]) -> list[Any] | None:
        return [YES, NO]


@register
class TextQuestion(QuestionKind):
    """Free text; a voice note is accepted too."""

    kind: Literal["text"]
    allow_voice: bool = True

    quotable: ClassVar[bool] = True

    @property
    def takes_voice(self) -> bool:
        return self.allow_voice


@register
class ReflectionQuestion(QuestionKind):
    """An open reflection prompt with an optional follow-up question."""

    kind: Literal["reflection"]
    follow_up: str | None = Field(default=None, min_length=1, max_length=1000)
    allow_voice: bool = True

    quotable: ClassVar[bool] = True
    translatable: ClassVar[tuple[str, ...]] = ("text", "follow_up")

    @property
    def takes_voice(self) -> bool:
        return self.allow_voice

    @property
    def follow_up_text(self) -> str | None:
        return self.follow_up


@register
class NumberQuestion(QuestionKind):
    """A whole number the person types: nights slept outside, visits to the drop-in."""

    kind: Literal["number"]
    min: int = 0
    max: int = 1000
    unit: str = Field(default="", max_length=30)  # read after the answer: "3 nights"

    aggregate: ClassVar[Aggregate] = Aggregate.MEAN
    cell: ClassVar[Cell] = Cell.NUMBER
    example: ClassVar[dict[str, Any]] = {"min": 0, "max": 7}
    example_answer: ClassVar[str] = "3"
    translatable: ClassVar[tuple[str, ...]] = ("text", "unit")
    check_keys: ClassVar[tuple[tuple[str, str], ...]] = (("min (", "max"),)

    @model_validator(mode="after")
    def _range(self) -> NumberQuestion:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be smaller than max ({self.max})")
        return self

    def typed(self, text: str) -> Outcome:
        found = re.fullmatch(r"\s*(-?\d{1,9})\s*", text)
        if found and self.min <= int(found.group(1)) <= self.max:
            return Take(int(found.group(1)))
        return Refuse("need_number")

    def describe(self, value: Answer) -> str:
        return f"{value} {self.unit}".strip()


# ---------------------------------------------------------------------------------------------
# Built from the registry.

FOLLOW_UP_KIND = "text"
"""The kind a follow-up's answer is stored as (it is answered like a text question)."""

QUESTION_KINDS = tuple(KINDS)
Question = Annotated[
    functools.reduce(operator.or_, KINDS.values()),
    Field(discriminator="kind"),
]
"""Any kind of question: pydantic reads the one its ``kind`` names."""


def options_of(question: QuestionKind) -> list[str] | list[int] | None:
    """The values a button question offers, or None for open questions."""
    return question.button_values()
