"""The pure conversation engine: (check-in, state, event) -> transition.

No Telegram, no SQL, no clock. The bot edge turns updates into events, stores the records a
transition carries, then renders its prompt. Each prompt carries a ``step`` number; an event
for another step (a double tap, a button on an old message) is reported as stale and changes
nothing, so nothing is ever recorded twice. What an input records depends on the question's
kind, and the engine asks the kind (:mod:`conversations.kinds`): a press, a typed answer or
"Done" becomes an answer to record, a tick, a hint, or nothing (an old button).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from conversations.kinds import FOLLOW_UP_KIND, Question
from conversations.model import CheckIn
from conversations.questions import Answer, Hint, Outcome, Refuse, Take, Tick, answer_text

FOLLOW_UP_SUFFIX = ".follow_up"


# ---------------------------------------------------------------------------------------------
# Events: what the participant did.


@dataclass(frozen=True)
class Choose:
    """A button with one of the question's values was pressed (index into its options)."""

    step: int
    option: int


@dataclass(frozen=True)
class Toggle:
    """An option of a multi question was ticked or unticked."""

    step: int
    option: int


@dataclass(frozen=True)
class Done:
    """'Done' on a multi question."""

    step: int


@dataclass(frozen=True)
class Skip:
    """'Skip' / 'I'd rather not say'."""

    step: int


@dataclass(frozen=True)
class Text:
    """A text message."""

    text: str


@dataclass(frozen=True)
class Voice:
    """A voice note, already saved by the edge; ``file_ref`` says where."""

    file_ref: str
    duration: int = 0


@dataclass(frozen=True)
class Unsupported:
    """Anything the engine cannot take as an answer (a sticker, a photo, ...)."""

    what: str


Event = Choose | Toggle | Done | Skip | Text | Voice | Unsupported


# ---------------------------------------------------------------------------------------------
# State, prompts and records.


@dataclass(frozen=True)
class State:
    """Where a participant is in a check-in. Serialisable, so a restart resumes it."""

    index: int
    step: int = 1
    follow_up: bool = False
    answers: dict[str, Answer] = field(default_factory=dict)
    selected: tuple[int, ...] = ()

    def to_json(self) -> str:
        """Serialise for storage."""
        return json.dumps(
            {
                "index": self.index,
                "step": self.step,
                "follow_up": self.follow_up,
                "answers": self.answers,
                "selected": list(self.selected),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str) -> State:
        """Inverse of :meth:`to_json`."""
        data = json.loads(raw)
        return cls(
            index=data["index"],
            step=data["step"],
            follow_up=data["follow_up"],
            answers=data["answers"],
            selected=tuple(data["selected"]),
        )


@dataclass(frozen=True)
class Prompt:
    """The question to show now."""

    question: Question
    step: int
    number: int
    total: int
    follow_up: bool = False
    selected: tuple[int, ...] = ()
    total_exact: bool = True
    """False when later questions depend on answers not given yet: ``total`` is then the most
    this person can be asked (``number`` is always exact)."""

    @property
    def text(self) -> str:
        """What to ask: the question, or its follow-up."""
        if self.follow_up:
            follow_up = self.question.follow_up_text
            assert follow_up is not None
            return follow_up
        return self.question.text

    @property
    def takes_buttons(self) -> bool:
        """True when the answer is a button press rather than text."""
        return not self.follow_up and self.question.takes_buttons

    @property
    def accepts_voice(self) -> bool:
        """True when a voice note is a valid answer here."""
        return not self.takes_buttons and self.question.takes_voice

    @property
    def can_skip(self) -> bool:
        """Follow-ups are always optional; questions unless marked required."""
        return self.follow_up or not self.question.required


@dataclass(frozen=True)
class Record:
    """One answer to store. ``value`` is None when skipped."""

    question_id: str
    kind: str
    value: Answer | None
    file_ref: str | None = None
    seconds: int | None = None
    """How long a voice note is, when Telegram said."""

    @property
    def skipped(self) -> bool:
        """True for 'Skip' / 'I'd rather not say'."""
        return self.value is None


@dataclass(frozen=True)
class Transition:
    """The outcome of one event.

    ``state`` is None when the check-in is finished. ``records`` must be stored before the
    next prompt is shown. ``answered`` is the record that closed the previous prompt (so the
    edge can show the choice on that message); ``redraw`` means the same prompt changed in
    place (a multi toggle); ``hint`` means the input was not taken and the prompt is asked
    again (a :class:`Hint`, or a kind's own hint name); ``stale`` means the event was for an
    old prompt and nothing changed.
    """

    state: State | None
    prompt: Prompt | None
    records: tuple[Record, ...] = ()
    answered: Record | None = None
    hint: str | None = None
    redraw: bool = False
    stale: bool = False

    @property
    def finished(self) -> bool:
        """True when the check-in has just been completed."""
        return self.state is None and not self.stale


# ---------------------------------------------------------------------------------------------
# The engine.


def start(checkin: CheckIn) -> Transition:
    """Begin a check-in at its first question that should be shown."""
    return _move_to(checkin, State(index=-1, step=0), records=(), answered=None)


def current_prompt(checkin: CheckIn, state: State) -> Prompt:
    """The prompt the participant is looking at in ``state``."""
    return _prompt(checkin, state)


def resume(checkin: CheckIn, state: State) -> Transition:
    """Show the current question again under a new step, so older buttons go stale."""
    new_state = replace(state, step=state.step + 1)
    return Transition(state=new_state, prompt=_prompt(checkin, new_state))


def advance(checkin: CheckIn, state: State, event: Event) -> Transition:
    """Apply one participant event to ``state``."""
    prompt = _prompt(checkin, state)
    question = prompt.question
    step = getattr(event, "step", state.step)
    if step != state.step:
        return Transition(state=state, prompt=prompt, stale=True)

    def again(hint: str) -> Transition:
        return Transition(state=state, prompt=prompt, hint=hint)

    if isinstance(event, Skip):
        if not prompt.can_skip:
            return again(Hint.REQUIRED)
        return _answer(checkin, state, prompt, None)

    if isinstance(event, Unsupported):
        return again(Hint.USE_BUTTONS if prompt.takes_buttons else Hint.NEED_TEXT)

    if isinstance(event, Voice):
        if prompt.takes_buttons:
            return again(Hint.USE_BUTTONS)
        if not prompt.accepts_voice:
            return again(Hint.NO_VOICE)
        return _answer(
            checkin,
            state,
            prompt,
            event.file_ref,
            file_ref=event.file_ref,
            seconds=event.duration or None,
        )

    # The question's kind says what the input records; a follow-up is answered in words.
    outcome: Outcome
    if isinstance(event, Text):
        outcome = Take(event.text) if prompt.follow_up else question.typed(event.text)
    elif isinstance(event, Choose | Toggle):
        outcome = Refuse(Hint.NEED_TEXT) if prompt.follow_up else question.pressed(event.option)
    elif isinstance(event, Done):
        outcome = Refuse(Hint.NEED_TEXT) if prompt.follow_up else question.done(state.selected)
    else:  # pragma: no cover - exhaustive above
        raise TypeError(f"unknown event {event!r}")

    if outcome is None:
        return Transition(state=state, prompt=prompt, stale=True)
    if isinstance(outcome, Refuse):
        return again(outcome.hint)
    if isinstance(outcome, Tick):
        return _toggle(checkin, state, outcome.option)
    return _answer(checkin, state, prompt, outcome.value)


def _toggle(checkin: CheckIn, state: State, option: int) -> Transition:
    selected = set(state.selected)
    selected ^= {option}
    new_state = replace(state, selected=tuple(sorted(selected)))
    return Transition(state=new_state, prompt=_prompt(checkin, new_state), redraw=True)


def _answer(
    checkin: CheckIn,
    state: State,
    prompt: Prompt,
    value: Answer | None,
    file_ref: str | None = None,
    seconds: int | None = None,
) -> Transition:
    question = prompt.question
    if prompt.follow_up:
        record = Record(question.id + FOLLOW_UP_SUFFIX, FOLLOW_UP_KIND, value, file_ref, seconds)
    else:
        record = Record(question.id, question.kind, value, file_ref, seconds)
    answers = dict(state.answers)
    if value is not None and not prompt.follow_up:
        answers[question.id] = value
    state = replace(state, answers=answers, selected=())
    if question.follow_up_text and not prompt.follow_up and value is not None:
        new_state = replace(state, step=state.step + 1, follow_up=True)
        return Transition(
            state=new_state,
            prompt=_prompt(checkin, new_state),
            records=(record,),
            answered=record,
        )
    return _move_to(checkin, state, records=(record,), answered=record)


def _move_to(
    checkin: CheckIn, state: State, records: tuple[Record, ...], answered: Record | None
) -> Transition:
    """Go to the next question whose ``show_if`` holds, or finish."""
    index = state.index + 1
    while index < len(checkin.questions):
        question = checkin.questions[index]
        condition = question.show_if
        if condition is None or condition.matches(state.answers.get(condition.question)):
            new_state = replace(
                state, index=index, step=state.step + 1, follow_up=False, selected=()
            )
            return Transition(
                state=new_state,
                prompt=_prompt(checkin, new_state),
                records=records,
                answered=answered,
            )
        index += 1
    return Transition(state=None, prompt=None, records=records, answered=answered)


def _prompt(checkin: CheckIn, state: State) -> Prompt:
    number, total, exact = count_questions(checkin, state.index, state.answers)
    return Prompt(
        question=checkin.questions[state.index],
        step=state.step,
        number=number,
        total=total,
        follow_up=state.follow_up,
        selected=state.selected,
        total_exact=exact,
    )


def count_questions(
    checkin: CheckIn, index: int, answers: dict[str, Answer]
) -> tuple[int, int, bool]:
    """(number, total, exact) for the question at ``index``, counting only what this person sees.

    A question hidden by its ``show_if`` counts neither before nor after. ``number`` is always
    exact: every earlier question's condition depends on answers already given (``show_if``
    only points back). A later question whose condition depends on an answer not given yet
    (the current question's, or a later one's) may or may not be asked: it counts towards
    ``total``, which is then the most this person can be asked, and ``exact`` is False.
    """
    questions = checkin.questions
    position = {question.id: i for i, question in enumerate(questions)}

    def shown(question: Question) -> bool:
        condition = question.show_if
        return condition is None or condition.matches(answers.get(condition.question))

    number = 1 + sum(1 for question in questions[:index] if shown(question))
    # For each later question: True (asked), False (not asked) or None (depends on an answer
    # still to come).
    asked: dict[int, bool | None] = {}
    for at in range(index + 1, len(questions)):
        condition = questions[at].show_if
        if condition is None:
            asked[at] = True
            continue
        target = position.get(condition.question)
        # Known: a condition on an earlier question, or on the current one once it is answered
        # (while its follow-up is asked).
        if target is None or not index <= target < at or condition.question in answers:
            asked[at] = shown(questions[at])
        elif target == index:
            asked[at] = None
        else:
            # A question never asked has no answer, so nothing that depends on it is asked.
            asked[at] = None if asked[target] is not False else False
    total = number + sum(1 for value in asked.values() if value is not False)
    return number, total, all(value is not None for value in asked.values())


def display_value(record: Record) -> str | None:
    """A short human form of an answer, for edits and summaries (None when skipped)."""
    value = record.value
    if value is None:
        return None
    if record.file_ref is not None:
        return None
    return answer_text(value)
