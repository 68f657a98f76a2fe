"""What a decision looks like on a phone: the ballot, its buttons, the result. Pure: texts and
figures in, text and button rows out (bot/handlers/decide.py sends them)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.callbacks import Button
from bot.heard import bar
from bot.texts import Texts
from conversations.decisions import EVERYONE, Method, Proposal, Result

Rows = list[list[tuple[str, str]]]  # rows of (label, callback data)


def when(texts: Texts, moment: datetime, zone: ZoneInfo) -> str:
    """``Thu 3 Dec at 18:00`` in the project's time zone, as the reader's language says it."""
    return texts.day_and_time(moment.astimezone(zone))


def ballot(texts: Texts, question: str, method: Method, closes: str) -> str:
    """The message asking people to vote."""
    how = texts(
        "decide.how_one" if method is Method.PLURALITY else "decide.how_many", closes=closes
    )
    return f"{texts('decide.ballot', question=question)}\n\n{how}"


def buttons(
    texts: Texts, decision_id: int, options: list[str], chosen: Collection[int] = ()
) -> Rows:
    """One big button per answer, a tick on those chosen; pressing a chosen one takes it back."""
    return [
        [
            (
                texts("decide.chosen", option=option) if index in chosen else option,
                Button.VOTE.data(decision_id, index, 0 if index in chosen else 1),
            )
        ]
        for index, option in enumerate(options)
    ]


def _figures(texts: Texts, options: list[str], result: Result) -> list[str]:
    if result.too_few:
        return [texts("decide.too_few", k=result.k)]
    lines = []
    for option, shown in zip(options, result.shown, strict=True):
        if shown is None:
            lines.append(texts("decide.option_hidden", option=option, k=result.k))
        else:
            share = 100 * shown / result.voted if result.voted else 0
            lines.append(texts("decide.option_count", bar=bar(share), option=option, count=shown))
    lines.append("")
    if len(result.winners) == 1:
        lines.append(texts("decide.winner", option=options[result.winners[0]]))
    elif result.winners:
        lines.append(
            texts("decide.tie", options=texts.listing([options[i] for i in result.winners]))
        )
    else:
        lines.append(texts("decide.no_winner"))
    return lines


def result_text(texts: Texts, question: str, options: list[str], result: Result) -> str:
    """The result, for everyone who was asked."""
    return "\n".join(
        [
            texts("decide.result", question=question),
            "",
            *_figures(texts, options, result),
            texts("decide.turnout", voted=result.voted, asked=result.asked),
            "",
            texts("decide.next"),
        ]
    )


def team_result_text(
    texts: Texts, number: int, question: str, options: list[str], result: Result
) -> str:
    """The result, for the team (the same rules: the team sees what participants see)."""
    return "\n".join(
        [
            texts("decide.team_result", number=number),
            "",
            question,
            "",
            *_figures(texts, options, result),
            texts("decide.turnout", voted=result.voted, asked=result.asked),
        ]
    )


def who_words(texts: Texts, who: str) -> str:
    """Who a decision asks, in words."""
    if who == EVERYONE:
        return texts("decide.who_everyone")
    kind, _, name = who.partition(":")
    return texts(f"decide.who_{kind}", name=name)


def preview(texts: Texts, proposal: Proposal, people: int, closes: str) -> str:
    """What a coordinator confirms before a decision goes out."""
    return texts(
        "decide.preview",
        people=people,
        question=proposal.question,
        options="\n".join(texts("decide.preview_option", option=o) for o in proposal.options),
        method=texts(f"decide.method_{proposal.method}"),
        who=who_words(texts, proposal.who),
        closes=closes,
    )
