"""How each kind of question looks in a chat, one renderer per kind in ``conversations.kinds``.

A renderer says which buttons a question has (each a label and the engine event its press
is), what line goes under the question, how an answer reads, and what the question's message
says once answered ("✔ 4", "✔ Answer received"). It knows nothing of callback data:
``bot/keyboards.py`` turns the events into buttons, and adds Skip to every question that may
be skipped. All the words come from the locale file.
"""

from __future__ import annotations

from typing import ClassVar

from bot.texts import Texts
from conversations.engine import Choose, Done, Prompt, Toggle
from conversations.kinds import (
    ChoiceQuestion,
    MultiQuestion,
    NumberQuestion,
    Question,
    ScaleQuestion,
)
from conversations.questions import NO, YES, Answer, QuestionKind, answer_text

Press = Choose | Toggle | Done
Row = list[tuple[str, Press]]
"""A row of buttons: each one's label and what pressing it means."""


class Renderer:
    """How a kind of question looks; the defaults suit a question answered with a button."""

    keys: ClassVar[tuple[str, ...]] = ("checkin.chosen",)
    """The locale texts it uses (every locale must have them)."""

    def buttons(self, texts: Texts, prompt: Prompt) -> list[Row]:
        """The answer buttons, in rows (Skip is added below them when it may be skipped)."""
        return []

    def note(self, texts: Texts, question: Question) -> str:
        """A line under the question ("1 = Not good   5 = Really good"), or ''."""
        return ""

    def words(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        """An answer as the person reads it; in full ("5 (Really good)") with its question."""
        return answer_text(value) if question is None else question.describe(value)

    def mark(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        """What the question's message says once answered (not skipped, not a voice note);
        with its ``question``, in the language the question is in."""
        return texts("checkin.chosen", answer=self.words(texts, value))


class _Labelled(Renderer):
    """Options the coordinator wrote: an answer reads as its label in the question's language."""

    def mark(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        return texts("checkin.chosen", answer=self.words(texts, value, question))


class OneOf(_Labelled):
    """One big button per option."""

    def buttons(self, texts: Texts, prompt: Prompt) -> list[Row]:
        question = prompt.question
        assert isinstance(question, ChoiceQuestion)
        return [[(label, Choose(prompt.step, i))] for i, label in enumerate(question.labels)]


class Ticks(_Labelled):
    """One button per option that ticks it, then Done."""

    keys: ClassVar[tuple[str, ...]] = ("checkin.done", "checkin.chosen")

    def buttons(self, texts: Texts, prompt: Prompt) -> list[Row]:
        question = prompt.question
        assert isinstance(question, MultiQuestion)
        rows: list[Row] = [
            [(("☑ " if i in prompt.selected else "☐ ") + label, Toggle(prompt.step, i))]
            for i, label in enumerate(question.labels)
        ]
        rows.append([(texts("checkin.done"), Done(prompt.step))])
        return rows


class Scale(Renderer):
    """Numbered buttons side by side, with what the two ends mean under the question."""

    ROW = 6  # buttons a phone shows comfortably side by side
    keys: ClassVar[tuple[str, ...]] = ("checkin.scale_ends", "checkin.chosen")

    def buttons(self, texts: Texts, prompt: Prompt) -> list[Row]:
        question = prompt.question
        assert isinstance(question, ScaleQuestion)
        row = [(str(value), Choose(prompt.step, i)) for i, value in enumerate(question.values)]
        return [row[i : i + self.ROW] for i in range(0, len(row), self.ROW)]

    def note(self, texts: Texts, question: Question) -> str:
        assert isinstance(question, ScaleQuestion)
        if not (question.min_label or question.max_label):
            return ""
        return texts(
            "checkin.scale_ends",
            min=question.min,
            max=question.max,
            min_label=question.min_label,
            max_label=question.max_label,
        )


class YesNo(Renderer):
    """Yes and No side by side, in the person's language."""

    keys: ClassVar[tuple[str, ...]] = ("checkin.yes", "checkin.no", "checkin.chosen")

    def buttons(self, texts: Texts, prompt: Prompt) -> list[Row]:
        return [
            [
                (texts("checkin.yes"), Choose(prompt.step, 0)),
                (texts("checkin.no"), Choose(prompt.step, 1)),
            ]
        ]

    def words(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        if value in (YES, NO):
            return texts("checkin.yes" if value == YES else "checkin.no")
        return super().words(texts, value, question)


class Typed(Renderer):
    """Answered in words (or a voice note): no buttons, and the answer is not repeated."""

    keys: ClassVar[tuple[str, ...]] = ("checkin.text_received",)

    def mark(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        return texts("checkin.text_received")


class Count(Renderer):
    """A number, typed: no buttons, its range under the question, the answer repeated."""

    keys: ClassVar[tuple[str, ...]] = ("checkin.chosen", "checkin.number_range")

    def note(self, texts: Texts, question: Question) -> str:
        assert isinstance(question, NumberQuestion)
        return texts("checkin.number_range", min=question.min, max=question.max)

    def mark(self, texts: Texts, value: Answer, question: QuestionKind | None = None) -> str:
        return texts("checkin.chosen", answer=value)


RENDERERS: dict[str, Renderer] = {
    "choice": OneOf(),
    "multi": Ticks(),
    "scale": Scale(),
    "yesno": YesNo(),
    "text": Typed(),
    "reflection": Typed(),
    "number": Count(),
}
_PLAIN = Renderer()


def renderer_for(kind: str) -> Renderer:
    """The renderer of a kind (a plain one for a stored answer of a kind no longer known)."""
    return RENDERERS.get(kind, _PLAIN)
