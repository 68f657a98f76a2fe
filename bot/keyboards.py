"""Pure rendering: prompts and choices to text and inline keyboards.

A question button's callback data (``bot.callbacks.Button.ANSWER``) carries only the prompt's
step and an option index, never content.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import MAX_DATA, Button
from bot.language import native_name
from bot.renderers import Press, renderer_for
from bot.texts import Texts
from conversations.engine import Choose, Done, Prompt, Record, Skip, Toggle
from conversations.questions import QuestionKind

CHOOSE, TOGGLE, DONE, SKIP = "c", "t", "d", "s"
_ACTIONS: dict[type, str] = {Choose: CHOOSE, Toggle: TOGGLE, Done: DONE, Skip: SKIP}


def answer_data(step: int, action: str, option: int | None = None) -> str:
    """Callback data for a question button: ``a:<step>:<action>[:<option>]``."""
    return Button.ANSWER.data(step, action, *(() if option is None else (option,)))


def prompt_text(texts: Texts, prompt: Prompt, header: str = "") -> str:
    """The message that asks a question."""
    parts = [header] if header else []
    if not prompt.follow_up:
        # "of up to 6" when later questions depend on answers not given yet: never wrong.
        key = "checkin.progress" if prompt.total_exact else "checkin.progress_up_to"
        parts.append(texts(key, number=prompt.number, total=prompt.total))
    body, question = prompt.text, prompt.question
    note = "" if prompt.follow_up else renderer_for(question.kind).note(texts, question)
    parts.append(f"{body}\n{note}" if note else body)
    return "\n\n".join(parts)


def prompt_keyboard(texts: Texts, prompt: Prompt) -> InlineKeyboardMarkup | None:
    """Big buttons for the question (as its kind's renderer lays them out), with Skip unless
    it is required."""
    rows: list[list[InlineKeyboardButton]] = []
    if prompt.takes_buttons:
        rows = [
            [_button(label, event) for label, event in row]
            for row in renderer_for(prompt.question.kind).buttons(texts, prompt)
        ]
    if prompt.can_skip:
        label = texts("checkin.rather_not" if prompt.takes_buttons else "checkin.skip")
        rows.append([_button(label, Skip(prompt.step))])
    return InlineKeyboardMarkup(rows) if rows else None


def _button(label: str, event: Press | Skip) -> InlineKeyboardButton:
    """A question button whose press is ``event``."""
    option = event.option if isinstance(event, Choose | Toggle) else None
    return InlineKeyboardButton(
        label, callback_data=answer_data(event.step, _ACTIONS[type(event)], option)
    )


def answered_text(
    texts: Texts, question_text: str, record: Record, question: QuestionKind | None = None
) -> str:
    """The question message after it was answered: the question and what was chosen (an
    option as the ``question`` labels it, in the person's language, when it is given)."""
    if record.skipped:
        mark = texts("checkin.skipped")
    elif record.file_ref is not None:
        mark = texts("checkin.voice_received")
    else:
        mark = renderer_for(record.kind).mark(texts, record.value, question)
    return f"{question_text}\n\n{mark}"


def consent_keyboard(
    texts: Texts,
    version: int,
    more: bool = True,
    code: str | None = None,
    language: str | None = None,
    others: Sequence[str] = (),
) -> InlineKeyboardMarkup:
    """Yes / No / Tell me more; an invite code and the language the consent is shown in ride
    along until the person says yes (nothing is stored before). ``others``: the other
    languages offered, one button each, to read it in one of them instead."""
    fits = code and len(Button.CONSENT.data("more", version, code, "xx-xx").encode()) <= MAX_DATA
    extra: tuple[str, ...] = (code if fits and code else "",)
    if language:
        extra = (*extra, language)
    elif not fits:
        extra = ()
    choices = ["yes", "no", "more"] if more else ["yes", "no"]
    rows = [
        [
            InlineKeyboardButton(
                texts(f"consent.{choice}"),
                callback_data=Button.CONSENT.data(choice, version, *extra),
            )
        ]
        for choice in choices
    ]
    invite = (code,) if fits and code else ()
    choices_of_language = [
        InlineKeyboardButton(
            f"🌐 {native_name(other)}", callback_data=Button.LANGUAGE.data(other, *invite)
        )
        for other in others
    ]
    rows += [choices_of_language[i : i + 2] for i in range(0, len(choices_of_language), 2)]
    return InlineKeyboardMarkup(rows)


def language_keyboard(offered: Sequence[str], current: str) -> InlineKeyboardMarkup:
    """One button per language offered, in its own words; a tick on the current one."""
    buttons = [
        InlineKeyboardButton(
            f"✅ {native_name(language)}" if language == current else native_name(language),
            callback_data=Button.LANGUAGE.data(language),
        )
        for language in offered
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def delete_keyboard(texts: Texts) -> InlineKeyboardMarkup:
    """Confirm or cancel erasure."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(texts("delete.yes"), callback_data=Button.DELETE.data("yes"))],
            [InlineKeyboardButton(texts("delete.no"), callback_data=Button.DELETE.data("no"))],
        ]
    )


def got_it_right_keyboard(
    texts: Texts, update_id: int, chosen: str | None = None
) -> InlineKeyboardMarkup:
    """ "Did we get it right?" under a "you said, we did" update: Yes, Partly, No (the one
    chosen ticked; any of them can still be pressed to change the answer)."""
    buttons = []
    for verdict in ("yes", "partly", "no"):
        label = texts(f"got_it.{verdict}")
        if verdict == chosen:
            label = texts("got_it.chosen", label=label)
        buttons.append(
            InlineKeyboardButton(label, callback_data=Button.GOT_IT.data(update_id, verdict))
        )
    return InlineKeyboardMarkup([buttons])
