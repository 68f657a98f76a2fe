"""The prompt content model: check-ins and their questions, as coordinators write them in TOML.

Pure data with structural validation. Cross-references (duplicate ids, ``show_if`` targets,
stages) are checked in :mod:`conversations.checks`, which also reports problems that these
models cannot see because an earlier field was already invalid.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conversations.schedule import Schedule

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

QUESTION_KINDS = ("choice", "multi", "scale", "yesno", "text", "reflection")
YES, NO = "yes", "no"


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShowIf(_Content):
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


class _Question(_Content):
    id: Identifier
    text: str = Field(min_length=1, max_length=1000)
    required: bool = False
    show_if: ShowIf | None = None


class ChoiceQuestion(_Question):
    """One of several buttons."""

    kind: Literal["choice"]
    options: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(min_length=1)


class MultiQuestion(_Question):
    """Several buttons that toggle, then Done."""

    kind: Literal["multi"]
    options: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(min_length=1)


class ScaleQuestion(_Question):
    """A row of numbered buttons, with a label for each end."""

    kind: Literal["scale"]
    min: int = 1
    max: int = 5
    min_label: str = ""
    max_label: str = ""

    @model_validator(mode="after")
    def _range(self) -> ScaleQuestion:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be smaller than max ({self.max})")
        if self.max - self.min > 10:
            raise ValueError("a scale can have at most 11 points so the buttons fit on a phone")
        return self

    @property
    def values(self) -> list[int]:
        """Every point on the scale, lowest first."""
        return list(range(self.min, self.max + 1))


class YesNoQuestion(_Question):
    """Yes or no."""

    kind: Literal["yesno"]


class TextQuestion(_Question):
    """Free text; a voice note is accepted too."""

    kind: Literal["text"]
    allow_voice: bool = True


class ReflectionQuestion(_Question):
    """An open reflection prompt with an optional follow-up question."""

    kind: Literal["reflection"]
    follow_up: str | None = Field(default=None, min_length=1, max_length=1000)
    allow_voice: bool = True


Question = Annotated[
    ChoiceQuestion
    | MultiQuestion
    | ScaleQuestion
    | YesNoQuestion
    | TextQuestion
    | ReflectionQuestion,
    Field(discriminator="kind"),
]


def options_of(question: Question) -> list[str] | list[int] | None:
    """The values a button question offers, or None for open questions."""
    if isinstance(question, ChoiceQuestion | MultiQuestion):
        return list(question.options)
    if isinstance(question, ScaleQuestion):
        return question.values
    if isinstance(question, YesNoQuestion):
        return [YES, NO]
    return None


class CheckIn(_Content):
    """A scripted check-in or reflection: an intro, questions in order, a closing message."""

    id: Identifier
    title: str = Field(min_length=1, max_length=120)
    stages: list[str] = Field(default_factory=list)
    intro: str = Field(default="", max_length=2000)
    closing: str = Field(default="", max_length=2000)
    minutes: int = Field(default=5, ge=1, le=240, description="rough time it takes")
    schedule: list[Schedule] = Field(default_factory=list)
    questions: list[Question] = Field(min_length=1)

    def question(self, question_id: str) -> Question:
        """The question with this id (KeyError if there is none)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)
