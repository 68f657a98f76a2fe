"""Pure rendering: prompts and choices to text and inline keyboards, and callback data.

Callback data is ``"<kind>:<a>:<b>..."`` and stays well under Telegram's 64-byte limit: a
question button carries only the prompt's step and an option index, never content.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import Texts
from conversations.engine import Prompt, Record, display_value
from conversations.model import (
    ChoiceQuestion,
    MultiQuestion,
    ScaleQuestion,
    YesNoQuestion,
)

ANSWER, CONSENT, DELETE = "a", "consent", "delete"
CHOOSE, TOGGLE, DONE, SKIP = "c", "t", "d", "s"
SCALE_ROW = 6  # buttons a phone shows comfortably side by side


@dataclass(frozen=True)
class Callback:
    """Parsed callback data."""

    kind: str
    args: tuple[str, ...]


def parse_callback(data: str | None) -> Callback | None:
    """Split callback data; None for anything not ours."""
    if not data:
        return None
    kind, *args = data.split(":")
    return Callback(kind, tuple(args))


def answer_data(step: int, action: str, option: int | None = None) -> str:
    """Callback data for a question button."""
    return f"{ANSWER}:{step}:{action}" + (f":{option}" if option is not None else "")


def prompt_text(texts: Texts, prompt: Prompt, header: str = "") -> str:
    """The message that asks a question."""
    parts = [header] if header else []
    if not prompt.follow_up:
        # "of up to 6" when later questions depend on answers not given yet: never wrong.
        key = "checkin.progress" if prompt.total_exact else "checkin.progress_up_to"
        parts.append(texts(key, number=prompt.number, total=prompt.total))
    body = prompt.text
    question = prompt.question
    if (
        isinstance(question, ScaleQuestion)
        and not prompt.follow_up
        and (question.min_label or question.max_label)
    ):
        body += "\n" + texts(
            "checkin.scale_ends",
            min=question.min,
            max=question.max,
            min_label=question.min_label,
            max_label=question.max_label,
        )
    parts.append(body)
    return "\n\n".join(parts)


def prompt_keyboard(texts: Texts, prompt: Prompt) -> InlineKeyboardMarkup | None:
    """Big buttons for the question, with Skip unless it is required."""
    step = prompt.step
    question = prompt.question
    rows: list[list[InlineKeyboardButton]] = []
    if prompt.takes_buttons:
        if isinstance(question, ScaleQuestion):
            buttons = [
                InlineKeyboardButton(str(v), callback_data=answer_data(step, CHOOSE, i))
                for i, v in enumerate(question.values)
            ]
            rows = [buttons[i : i + SCALE_ROW] for i in range(0, len(buttons), SCALE_ROW)]
        elif isinstance(question, YesNoQuestion):
            rows = [
                [
                    InlineKeyboardButton(
                        texts("checkin.yes"), callback_data=answer_data(step, CHOOSE, 0)
                    ),
                    InlineKeyboardButton(
                        texts("checkin.no"), callback_data=answer_data(step, CHOOSE, 1)
                    ),
                ]
            ]
        elif isinstance(question, ChoiceQuestion):
            rows = [
                [InlineKeyboardButton(option, callback_data=answer_data(step, CHOOSE, i))]
                for i, option in enumerate(question.options)
            ]
        elif isinstance(question, MultiQuestion):
            rows = [
                [
                    InlineKeyboardButton(
                        ("☑ " if i in prompt.selected else "☐ ") + option,
                        callback_data=answer_data(step, TOGGLE, i),
                    )
                ]
                for i, option in enumerate(question.options)
            ]
            rows.append(
                [InlineKeyboardButton(texts("checkin.done"), callback_data=answer_data(step, DONE))]
            )
    if prompt.can_skip:
        label = texts("checkin.rather_not" if prompt.takes_buttons else "checkin.skip")
        rows.append([InlineKeyboardButton(label, callback_data=answer_data(step, SKIP))])
    return InlineKeyboardMarkup(rows) if rows else None


def answered_text(texts: Texts, question_text: str, record: Record) -> str:
    """The question message after it was answered: the question and what was chosen."""
    if record.skipped:
        mark = texts("checkin.skipped")
    elif record.file_ref is not None:
        mark = texts("checkin.voice_received")
    elif record.kind in ("text", "reflection"):
        mark = texts("checkin.text_received")
    else:
        shown = display_value(record) or ""
        if record.kind == "yesno":
            shown = texts("checkin.yes" if record.value == "yes" else "checkin.no")
        mark = texts("checkin.chosen", answer=shown)
    return f"{question_text}\n\n{mark}"


def consent_keyboard(
    texts: Texts, version: int, more: bool = True, code: str | None = None
) -> InlineKeyboardMarkup:
    """Yes / No / Tell me more; an invite code rides along until the person says yes."""
    suffix = f":{code}" if code and len(f"{CONSENT}:more:{version}:{code}") <= 64 else ""
    choices = ["yes", "no", "more"] if more else ["yes", "no"]
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts(f"consent.{choice}"),
                    callback_data=f"{CONSENT}:{choice}:{version}{suffix}",
                )
            ]
            for choice in choices
        ]
    )


def delete_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """Confirm or cancel erasure."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts("delete.yes"), callback_data=f"{DELETE}:yes")],
            [InlineKeyboardButton(texts("delete.no"), callback_data=f"{DELETE}:no")],
        ]
    )
