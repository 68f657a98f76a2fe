"""The prompt content model: check-ins and their questions, as coordinators write them in TOML.

Pure data with structural validation. Each kind of question is a class in
:mod:`conversations.kinds` (what every question has is in :mod:`conversations.questions`);
their names are re-exported here. Cross-references (duplicate ids, ``show_if`` targets,
stages) are checked in :mod:`conversations.checks`, which also reports problems that these
models cannot see because an earlier field was already invalid.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from conversations.kinds import (
    QUESTION_KINDS,
    ChoiceQuestion,
    MultiQuestion,
    Question,
    ReflectionQuestion,
    ScaleQuestion,
    TextQuestion,
    YesNoQuestion,
    options_of,
)
from conversations.questions import NO, YES, Answer, Content, Identifier, ShowIf
from conversations.schedule import Schedule

__all__ = [
    "NO",
    "QUESTION_KINDS",
    "YES",
    "Answer",
    "CheckIn",
    "ChoiceQuestion",
    "Identifier",
    "MultiQuestion",
    "Question",
    "ReflectionQuestion",
    "ScaleQuestion",
    "ShowIf",
    "TextQuestion",
    "YesNoQuestion",
    "options_of",
]


class CheckIn(Content):
    """A scripted check-in or reflection: an intro, questions in order, a closing message."""

    id: Identifier
    title: str = Field(min_length=1, max_length=120)
    stages: list[str] = Field(default_factory=list)
    intro: str = Field(default="", max_length=2000)
    closing: str = Field(default="", max_length=2000)
    minutes: int = Field(default=5, ge=1, le=240, description="rough time it takes")
    schedule: list[Schedule] = Field(default_factory=list)
    questions: list[Question] = Field(min_length=1)

    translatable: ClassVar[tuple[str, ...]] = ("title", "intro", "closing")
    """Its keys a participant reads, which the config may give per language."""

    def question(self, question_id: str) -> Question:
        """The question with this id (KeyError if there is none)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)
