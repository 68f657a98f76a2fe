"""/decide: the team puts a decision to people; they vote with buttons; everyone asked hears the
result; the team says what it did with it.

1. ``/decide`` shows how to write one, the config's ``[[decisions]]`` not yet put to people and
   the latest decisions (an open one can be closed early). ``/decide ID`` takes one from the
   config; ``/decide QUESTION`` with ``- option`` lines writes one here
   (:func:`conversations.decisions.parse_proposal`).
2. The coordinator sees who it goes to and confirms. The decision, the people asked and one
   ballot each (through the outbox: once, quiet hours respected) are stored in one transaction.
3. A vote is a button press (``vote:<decision>:<option>:<1|0>``), stored at once; the ballot's
   buttons then show the person's choice. They can change it until it closes.
4. When it closes (its time comes, checked by the leader with each nudge tick, or a coordinator
   closes it) the counts are kept and the result is queued to everyone asked, in one
   transaction; then the team sees it with "Tell them what we did", which opens a "you said, we
   did" update linked to the decision (bot/handlers/you_said.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import ballots, leader, outreach
from bot.access import Role, team_chats
from bot.callbacks import Button, parse
from bot.handlers import you_said
from bot.handlers.auditing import actor_of, may, role_here, team_only
from bot.handlers.common import RepliesTo, chat_id_of
from bot.services import BotContext, services_of
from conversations.decisions import (
    MAX_QUESTION,
    OPTION_LINE,
    Method,
    Proposal,
    ProposalError,
    parse_proposal,
    result,
)
from storage import audit, decisions, handovers, participants, suggestions
from storage.you_said import Link

log = logging.getLogger(__name__)

PUT, CANCEL, CLOSE, DID = "put", "x", "close", "did"
SUGGESTION_NUMBER = re.compile(r"#(\d+)")


def register(app: Any) -> None:
    """/decide, the team's buttons and the participants' votes."""
    app.add_handler(CommandHandler("decide", decide_command, filters=filters.UpdateType.MESSAGE))
    app.add_handler(Button.DECISION.handler(on_team_button))
    app.add_handler(Button.DRAFT_DECISION.handler(on_draft_button))
    app.add_handler(Button.VOTE.handler(on_vote))
    words = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
    app.add_handler(
        MessageHandler(words & RepliesTo(app, "suggest.vote_prompt"), on_suggestion_vote)
    )


def _draft_key(update: Update) -> str:
    user = update.effective_user
    return f"decide-draft:{user.id if user else 0}"


def _markup(rows: ballots.Rows) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def _when(context: BotContext, moment: datetime, texts: Any = None) -> str:
    zone = outreach.zone_of(context.services, None)
    return ballots.when(texts or context.texts, moment, zone)


def _text_after_command(update: Update) -> str:
    """What follows ``/decide`` (line breaks kept, unlike ``context.args``)."""
    message = update.message
    text = (message.text or "") if message else ""
    first, _, rest = text.partition("\n")
    _, _, after = first.partition(" ")
    return f"{after}\n{rest}".strip()


@team_only("decide")
async def decide_command(update: Update, context: BotContext) -> None:
    """``/decide``, ``/decide ID`` or ``/decide QUESTION`` with option lines."""
    texts, chat_id = context.texts, chat_id_of(update)
    written = _text_after_command(update)
    if not written:
        await _overview(update, context)
        return
    spec = context.settings.decision(written) if "\n" not in written else None
    if spec is not None:
        put_before = await decisions.by_key(context.db, spec.id)
        if put_before is not None:
            await context.bot.send_message(
                chat_id, texts("decide.already", id=spec.id, number=put_before.id)
            )
            return
        proposal = spec.proposal()
    elif "\n" not in written and written.replace("-", "").replace("_", "").isalnum():
        await context.bot.send_message(chat_id, texts("decide.unknown", id=written[:40]))
        return
    else:
        try:
            proposal = parse_proposal(written)
        except ProposalError as exc:
            problems = "\n".join(f"• {p}" for p in exc.problems)
            await context.bot.send_message(chat_id, texts("decide.problems", problems=problems))
            return
    await _preview(update, context, proposal)


async def on_suggestion_vote(update: Update, context: BotContext) -> None:
    """A reply to "Suggestion #N as a vote": the answers (and maybe the question); the
    suggestion's words are the question unless a first line says otherwise."""
    message = update.message
    assert message is not None and message.text is not None
    assert message.reply_to_message is not None
    if not may(update, context, Button.SUGGESTION):
        return
    texts = context.texts
    asked = SUGGESTION_NUMBER.search(message.reply_to_message.text or "")
    found = await suggestions.get(context.db, int(asked.group(1))) if asked else None
    if found is None:
        await context.bot.send_message(chat_id_of(update), texts("suggest.gone"))
        return
    written = message.text.strip()
    if OPTION_LINE.match(written.splitlines()[0] if written else ""):
        written = f"{' '.join(found.text.split())[:MAX_QUESTION]}\n{written}"
    try:
        proposal = parse_proposal(written)
    except ProposalError as exc:
        problems = "\n".join(f"• {p}" for p in exc.problems)
        await context.bot.send_message(
            chat_id_of(update), texts("decide.problems", problems=problems)
        )
        return
    await audit.record(
        context.db,
        actor_of(update),
        "decide",
        True,
        context.services.clock.now(),
        detail=f"suggestion {found.id}",
    )
    await _preview(update, context, proposal)


async def _overview(update: Update, context: BotContext) -> None:
    texts = context.texts
    blocks = [texts("decide.usage")]
    done = await decisions.put_keys(context.db)
    waiting = [d for d in context.settings.decisions if d.id not in done]
    if waiting:
        lines = [texts("decide.config_line", id=d.id, question=d.question) for d in waiting]
        blocks.append("\n".join([texts("decide.from_config"), *lines]))
    recent = await decisions.recent(context.db)
    rows: list[list[InlineKeyboardButton]] = []
    if recent:
        lines = [texts("decide.recent")]
        for d in recent:
            if d.is_open:
                closes = _when(context, datetime.fromisoformat(d.closes_at))
                lines.append(
                    texts("decide.recent_open", number=d.id, question=d.question, closes=closes)
                )
                rows.append(
                    [
                        InlineKeyboardButton(
                            texts("decide.close_now", number=d.id),
                            callback_data=Button.DECISION.data(CLOSE, d.id),
                        )
                    ]
                )
            else:
                did = texts("decide.recent_did") if d.update_id else ""
                lines.append(
                    texts(
                        "decide.recent_closed",
                        number=d.id,
                        question=d.question,
                        voted=d.voted or 0,
                        asked=d.asked or 0,
                        did=did,
                    )
                )
        blocks.append("\n".join(lines))
    await context.bot.send_message(
        chat_id_of(update),
        "\n\n".join(blocks)[:4096],
        reply_markup=InlineKeyboardMarkup(rows) if rows else None,
    )


async def _preview(update: Update, context: BotContext, proposal: Proposal) -> None:
    texts = context.texts
    people = await decisions.audience_size(
        context.db, proposal.who, context.settings.consent_versions
    )
    if people == 0:
        await context.bot.send_message(chat_id_of(update), texts("decide.nobody"))
        return
    assert context.chat_data is not None
    context.chat_data[_draft_key(update)] = proposal
    closes = _when(context, context.services.clock.now() + proposal.open_for)
    # A coordinator puts it to people; a peer researcher hands it to the coordinators.
    coordinator = role_here(update, context) is Role.COORDINATOR
    kind = Button.DECISION if coordinator else Button.DRAFT_DECISION
    text = ballots.preview(texts, proposal, people, closes)
    if not coordinator:
        text = texts("decide.preview_for_team", preview=text)
    label = texts("decide.put" if coordinator else "decide.to_team")
    await context.bot.send_message(
        chat_id_of(update), text, reply_markup=_confirm(context, kind, label)
    )


def _confirm(context: BotContext, kind: Button, label: str, *token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label, callback_data=kind.data(PUT, *token)),
                InlineKeyboardButton(
                    context.texts("decide.cancel"), callback_data=kind.data(CANCEL, *token)
                ),
            ]
        ]
    )


@dataclass(frozen=True)
class Drafted:
    """A peer researcher's decision, waiting for a coordinator to put it to people."""

    proposal: Proposal
    author_chat: int


def _stored(proposal: Proposal) -> dict[str, Any]:
    """A drafted decision as kept for the coordinators (storage.handovers)."""
    return {
        "question": proposal.question,
        "options": proposal.options,
        "method": proposal.method.value,
        "who": proposal.who,
        "open_for": proposal.open_for.total_seconds(),
        "key": proposal.key,
    }


def _restored(kept: dict[str, Any]) -> Proposal:
    return Proposal(
        question=kept["question"],
        options=list(kept["options"]),
        method=Method(kept["method"]),
        who=kept["who"],
        open_for=timedelta(seconds=kept["open_for"]),
        key=kept["key"],
    )


@team_only(Button.DRAFT_DECISION)
async def on_draft_button(update: Update, context: BotContext) -> None:
    """``decd:<put|x>``: a peer researcher hands their decision to the coordinators."""
    query = update.callback_query
    assert query is not None and context.chat_data is not None
    texts = context.texts
    parsed = parse(query.data)
    action = parsed.arg(0) if parsed else ""
    proposal = context.chat_data.pop(_draft_key(update), None)  # first: a double tap finds none
    if not isinstance(proposal, Proposal) or action not in (PUT, CANCEL):
        await query.answer(texts("decide.gone"))
        return
    await query.answer()
    if action == CANCEL:
        await _edit(query, texts("decide.cancelled"))
        return
    chats = team_chats(context.settings, Role.COORDINATOR)
    if not chats:
        await _edit(query, texts("decide.no_coordinators"))
        return
    # Stored: it outlives a restart, and whichever worker gets the coordinator's press has it.
    token = await handovers.hand_over(
        context.db, "decision", _stored(proposal), chat_id_of(update), context.services.clock.now()
    )
    people = await decisions.audience_size(
        context.db, proposal.who, context.settings.consent_versions
    )
    closes = _when(context, context.services.clock.now() + proposal.open_for)
    text = texts("decide.drafted", preview=ballots.preview(texts, proposal, people, closes))
    keyboard = _confirm(context, Button.DECISION, texts("decide.put"), token)
    for chat in chats:
        try:
            await context.bot.send_message(chat, text, reply_markup=keyboard)
        except TelegramError as exc:
            log.warning("a drafted decision could not be shown to the team: %s", exc.message)
    await _edit(query, texts("decide.handed_over"))


@team_only(Button.DECISION)
async def on_team_button(update: Update, context: BotContext) -> None:
    """``dec:put``, ``dec:x``, ``dec:close:<n>``, ``dec:did:<n>``."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    action = args[0] if args else ""
    number = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
    if action in (PUT, CANCEL):
        assert context.chat_data is not None
        drafted: Drafted | None = None
        if len(args) > 1:  # a peer researcher's, waiting for a coordinator
            kept = await handovers.take(context.db, "decision", args[1])  # a second press: None
            drafted = Drafted(_restored(kept.draft), kept.author_chat) if kept else None
            proposal = drafted.proposal if drafted else None
        else:
            proposal = context.chat_data.pop(_draft_key(update), None)  # a double tap: none
        if not isinstance(proposal, Proposal):
            await query.answer(texts("decide.gone"))
            return
        await query.answer()
        if action == CANCEL:
            await _edit(query, texts("decide.cancelled"))
            if drafted is not None:
                await _tell(context, drafted.author_chat, texts("decide.author_discarded"))
            return
        opened = await _put(update, context, proposal, query)
        if drafted is not None and opened is not None:
            await _tell(
                context,
                drafted.author_chat,
                texts("decide.author_sent", number=opened.id, people=opened.asked),
            )
        return
    if action == CLOSE and number is not None:
        closed = await close(context.application, number)
        await query.answer(
            texts("decide.closed_now" if closed else "decide.already_closed", number=number)
        )
        if closed:
            await tell_team(context.application)
            context.application.create_task(outreach.tick(context.application))
        return
    if action == DID and number is not None:
        found = await decisions.get(context.db, number)
        if found is None:
            await query.answer(texts("decide.gone"))
            return
        await query.answer()
        you_said.open_draft(
            update,
            context,
            Link(decision_id=number),
            texts("decide.did_about", number=number),
        )
        await context.bot.send_message(
            chat_id_of(update),
            texts("decide.did_write", number=number, question=found.question),
            reply_markup=you_said.done_keyboard(context),
        )
        return
    await query.answer(texts("hint.stale"))


async def _tell(context: BotContext, chat: int, text: str) -> None:
    try:
        await context.bot.send_message(chat, text)
    except TelegramError as exc:
        log.warning("could not tell a peer researcher about their decision: %s", exc.message)


async def _put(
    update: Update, context: BotContext, proposal: Proposal, query: Any
) -> decisions.Opened | None:
    texts, services = context.texts, context.services
    now = services.clock.now()
    closes_at = now + proposal.open_for

    def ballot(number: int, language: str | None) -> tuple[str, ballots.Rows]:
        words = services.texts_in(language)
        closes = _when(context, closes_at, words)
        return (
            ballots.ballot(words, proposal.question, proposal.method, closes),
            ballots.buttons(words, number, proposal.options),
        )

    try:
        opened = await decisions.put(
            context.db,
            proposal,
            stage=services.stage.name,
            author=actor_of(update),
            consent_version=context.settings.consent_versions,
            now=now,
            closes_at=closes_at,
            ballot=ballot,
        )
    except decisions.AlreadyPut:
        await _edit(query, texts("decide.already", id=proposal.key, number="?"))
        return None
    await audit.record(
        context.db, actor_of(update), "decide.put", True, now, detail=f"decision {opened.id}"
    )
    await _edit(query, texts("decide.sent", number=opened.id, people=opened.asked))
    context.application.create_task(outreach.tick(context.application))
    return opened


async def on_vote(update: Update, context: BotContext) -> None:
    """``vote:<decision>:<option>:<1|0>``: store it, show it on the ballot."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    if len(args) != 3 or not all(a.isdigit() for a in args) or args[2] not in ("0", "1"):
        await query.answer(texts("hint.stale"))
        return
    number, option, on = int(args[0]), int(args[1]), args[2] == "1"
    person = await participants.by_chat(context.db, chat_id_of(update))
    if person is None or person.status == "stopped":
        await query.answer(texts("decide.not_yours"))
        return
    now = context.services.clock.now()
    outcome = await decisions.vote(context.db, number, person.id, option, on, now)
    if outcome.status in ("gone", "not_asked"):
        await query.answer(texts("decide.not_yours"))
        return
    if outcome.status == "closed":
        await query.answer(texts("decide.closed"))
        return
    assert outcome.decision is not None
    # The tick first, then the toast: the button stops spinning once the ballot shows the vote.
    rows = ballots.buttons(texts, number, outcome.decision.options, outcome.chosen)
    with contextlib.suppress(BadRequest):  # the same choice again: nothing to change
        await query.edit_message_reply_markup(_markup(rows))
    await query.answer(texts("decide.thanks" if on else "decide.taken_back"))


# -- closing ------------------------------------------------------------------------------------


async def close(app: Any, number: int) -> bool:
    """Close decision ``number`` now and queue its result to everyone asked; False if it was
    closed already."""
    services = services_of(app)
    k = services.settings.digest.min_group_size

    def message(
        found: decisions.Decision, counts: list[int], voted: int, asked: int, language: str | None
    ) -> str:
        figures = result(counts, voted, asked, k)
        words = services.texts_in(language)
        return ballots.result_text(words, found.question, found.options, figures)

    closed = await decisions.close(services.db, number, services.clock.now(), message)
    return closed is not None


async def close_due(app: Any) -> int:
    """Close every decision whose time has come (the leader, with each nudge tick); then show
    the team each result not shown yet. How many closed."""
    services = services_of(app)
    closed = 0
    for number in await decisions.due_to_close(services.db, services.clock.now()):
        closed += await close(app, number)
    await tell_team(app)
    return closed


async def tell_team(app: Any) -> None:
    """Post each closed decision's result to the coordinators (their chat, or each of them)
    with "Tell them what we did"; marked told once posted (posted again after a crash in
    between: better twice than never)."""
    services = services_of(app)
    texts = services.texts
    chats = team_chats(services.settings, Role.COORDINATOR)
    k = services.settings.digest.min_group_size
    for found in await decisions.untold(services.db):
        counts = found.tally or [0] * len(found.options)
        figures = result(counts, found.voted or 0, found.asked or 0, k)
        text = ballots.team_result_text(texts, found.id, found.question, found.options, figures)
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        texts("decide.did"), callback_data=Button.DECISION.data(DID, found.id)
                    )
                ]
            ]
        )
        for chat in chats:
            try:
                await app.bot.send_message(chat, text, reply_markup=keyboard)
            except TelegramError as exc:
                log.warning("decision %d: could not show the team: %s", found.id, exc.message)
        await decisions.mark_told(services.db, found.id, services.clock.now())


async def close_due_if_leading(app: Any) -> None:
    """:func:`close_due` in the one process that plans (bot/leader.py)."""
    if leader.is_leader(app):
        try:
            await close_due(app)
        except Exception as exc:
            log.error("decisions: could not close those due: %s", type(exc).__name__)


async def _edit(query: Any, text: str) -> None:
    try:
        await query.edit_message_text(text)
    except BadRequest:
        await query.message.reply_text(text)
