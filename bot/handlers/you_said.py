"""/update: "you said, we did". A coordinator tells contributors what changed because of them.

1. ``/update`` (in a private chat with the bot, or in the coordinators' chat) opens a draft.
2. The coordinator's text messages in that chat are added to the draft (a handler in group -2
   takes them before anything else, so they are never treated as check-in answers, even when
   the coordinator also takes part), until they tap Done.
3. They link it to a check-in, one question of it, or a theme (typed; its recipients are
   everyone who answered anything in the current stage), see who it goes to, and tap Send.
4. The update is stored, queued in the outbox once per recipient (key ``update:<id>``) and
   delivered by a nudge tick; the coordinator hears how many contributors it reached.

A peer researcher (:mod:`bot.access`) drafts the same way, in their private chat, but their
last button is "Send to the coordinators": the draft goes to the coordinators' chat (or, without
one, to each coordinator) with its preview and a **Send** button only coordinators may press
(``updp``), and the peer researcher is told it went there, and again when it is sent.

Drafts live in ``chat_data`` keyed by the author's user id, so two coordinators in the
coordinators' chat never mix their drafts; they are in memory, and a restart forgets one not
finished. A peer researcher's finished draft waiting for a coordinator is stored
(:mod:`storage.handovers`), so it survives a restart and any worker can send it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import outreach
from bot.access import Role, team_chats
from bot.callbacks import Button, parse
from bot.handlers.auditing import actor_of, may, role_here, team_only
from bot.handlers.common import chat_id_of
from bot.services import BotContext
from bot.texts import Texts
from conversations.model import CheckIn
from storage import audit, handovers, you_said
from storage.you_said import Link

log = logging.getLogger(__name__)

DRAFT_GROUP = -2  # before safeguarding (-1) and the participants' handlers (0)
MESSAGE_LIMIT = 4096
_LABEL = 40  # characters of a question shown on its button

WRITING, THEME, READY = "writing", "theme", "ready"


@dataclass
class Draft:
    """An update being written."""

    parts: list[str] = field(default_factory=list)
    step: str = WRITING
    link: Link | None = None
    about: str = ""


@dataclass(frozen=True)
class Drafted:
    """A peer researcher's finished draft, waiting for a coordinator to send it."""

    draft: Draft
    author_chat: int  # the peer researcher's private chat: told when it is sent or dropped


def _stored(draft: Draft) -> dict[str, Any]:
    """A finished draft as kept for the coordinators (storage.handovers)."""
    return {"parts": draft.parts, "about": draft.about, "link": asdict(draft.link or Link())}


def _restored(kept: dict[str, Any]) -> Draft:
    return Draft(
        parts=list(kept["parts"]), step=READY, link=Link(**kept["link"]), about=kept["about"]
    )


def register(app: Any) -> None:
    """/update, the draft's messages and its buttons."""
    # Where /update works is the guard's decision (bot.access), made with the current settings;
    # a draft's text is only taken from someone who may use /update (may) in a chat with a draft.
    new = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("update", update_command, filters=new))
    app.add_handler(
        MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_draft_text),
        group=DRAFT_GROUP,
    )
    app.add_handler(Button.UPDATE.handler(on_button))
    app.add_handler(Button.DRAFTED.handler(on_drafted))


def _key(user_id: int) -> str:
    return f"update-draft:{user_id}"


def _draft(update: Update, context: BotContext) -> Draft | None:
    user = update.effective_user
    if user is None or context.chat_data is None:
        return None
    draft = context.chat_data.get(_key(user.id))
    return draft if isinstance(draft, Draft) else None


def _drop(update: Update, context: BotContext) -> Draft | None:
    user = update.effective_user
    if user is None or context.chat_data is None:
        return None
    draft = context.chat_data.pop(_key(user.id), None)
    return draft if isinstance(draft, Draft) else None


def _button(text: str, *args: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=Button.UPDATE.data(*args))


def open_draft(update: Update, context: BotContext, link: Link, about: str) -> None:
    """Open a draft already linked (what the team did with a decision): Done goes straight
    to the preview."""
    user = update.effective_user
    assert user is not None and context.chat_data is not None
    context.chat_data[_key(user.id)] = Draft(link=link, about=about)


def done_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    """Done and Cancel, under a draft's messages."""
    return _done_keyboard(context)


def _done_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    texts = context.texts
    return InlineKeyboardMarkup(
        [[_button(texts("update.done"), "done"), _button(texts("update.cancel"), "x")]]
    )


def _message(texts: Texts, draft: Draft) -> str:
    """What recipients get: our header (in their language), then the team's words as written."""
    return texts("update.header") + "\n\n" + "\n\n".join(draft.parts)


@team_only("update")
async def update_command(update: Update, context: BotContext) -> None:
    """/update: open a draft."""
    user = update.effective_user
    assert user is not None and context.chat_data is not None
    context.chat_data[_key(user.id)] = Draft()
    await context.bot.send_message(
        chat_id_of(update),
        _in_chat(update, context, context.texts("update.write")),
        reply_markup=_done_keyboard(context),
    )


async def on_draft_text(update: Update, context: BotContext) -> None:
    """A coordinator's message while their draft is open goes into the draft, nowhere else."""
    draft = _draft(update, context)
    message = update.message
    if draft is None or message is None or not message.text or not may(update, context, "update"):
        return  # not ours: the message is handled as usual
    texts, chat_id = context.texts, chat_id_of(update)
    if draft.step == WRITING:
        draft.parts.append(message.text)
        await context.bot.send_message(
            chat_id,
            texts("update.added", count=len(draft.parts)),
            reply_markup=_done_keyboard(context),
        )
    elif draft.step == THEME:
        theme = message.text.strip()[:200]
        stage = context.services.stage.name
        draft.link = Link(theme=theme, stage=stage)
        draft.about = texts("update.theme_about", theme=theme, stage=stage)
        await _preview(update, context, draft)
    else:
        await context.bot.send_message(chat_id, texts("update.use_buttons"))
    raise ApplicationHandlerStop


async def on_button(update: Update, context: BotContext) -> None:
    """Done, the link choices, Send and Cancel."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    # The guard refused (and audited) everyone else; without a draft nothing happens anyway.
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    draft = _draft(update, context)
    if draft is None or not args:
        await query.answer(texts("update.gone"))
        return
    action = args[0]
    if action == "x":
        _drop(update, context)
        await query.answer()
        await _edit(query, texts("update.cancelled"))
        return
    if action == "done":
        await _on_done(update, query, context, draft)
        return
    if draft.step == WRITING:
        await query.answer(texts("update.gone"))
        return
    checkins = context.settings.checkins
    if action == "c" and len(args) > 1:
        checkin = _checkin_at(checkins, args[1])
        if checkin is None:
            await query.answer(texts("update.gone"))
            return
        await query.answer()
        index = checkins.index(checkin)
        rows = [[_button(_label(q.text), "q", index, n)] for n, q in enumerate(checkin.questions)]
        rows.append([_button(texts("update.whole"), "w", index)])
        rows.append([_button(texts("update.cancel"), "x")])
        await _edit(
            query,
            texts("update.pick_question", title=checkin.title),
            InlineKeyboardMarkup(rows),
        )
        return
    if action in ("q", "w") and len(args) > 1:
        checkin = _checkin_at(checkins, args[1])
        question = None
        if checkin is not None and action == "q":
            number = int(args[2]) if len(args) > 2 and args[2].isdigit() else -1
            question = checkin.questions[number] if 0 <= number < len(checkin.questions) else None
            if question is None:
                checkin = None
        if checkin is None:
            await query.answer(texts("update.gone"))
            return
        await query.answer()
        draft.link = Link(checkin_id=checkin.id, question_id=question.id if question else None)
        draft.about = (
            texts("update.question_about", question=_label(question.text), title=checkin.title)
            if question
            else texts("update.checkin_about", title=checkin.title)
        )
        await _preview(update, context, draft, query)
        return
    if action == "t":
        await query.answer()
        draft.step = THEME
        await _edit(query, _in_chat(update, context, texts("update.ask_theme")))
        return
    if action == "s" and draft.step == READY and draft.link is not None:
        _drop(update, context)  # first: a double tap finds no draft and sends nothing
        await query.answer()
        if role_here(update, context) >= Role.COORDINATOR:
            await _send(update, context, draft, query)
        else:
            await _hand_over(update, context, draft, query)
        return
    await query.answer(texts("update.gone"))


async def _on_done(update: Update, query: Any, context: BotContext, draft: Draft) -> None:
    texts = context.texts
    if not draft.parts:
        await query.answer(texts("update.nothing_yet"))
        return
    length = len(_message(context.texts, draft))
    if length > MESSAGE_LIMIT:
        await query.answer()
        await query.message.reply_text(
            texts("update.too_long", length=length, limit=MESSAGE_LIMIT),
            reply_markup=_done_keyboard(context),
        )
        draft.parts.clear()
        return
    await query.answer()
    if draft.link is not None:  # linked when it was opened
        await _preview(update, context, draft, query)
        return
    draft.step = "linking"
    rows = [[_button(c.title, "c", n)] for n, c in enumerate(context.settings.checkins)]
    rows.append([_button(texts("update.theme"), "t")])
    rows.append([_button(texts("update.cancel"), "x")])
    await _edit(query, texts("update.link"), InlineKeyboardMarkup(rows))


async def _preview_text(context: BotContext, draft: Draft, key: str) -> str:
    """The message and, below it, who it goes to (in the words of ``key``)."""
    assert draft.link is not None
    found = await you_said.audience(context.db, draft.link, context.settings.consent_versions)
    note = context.texts(key, people=len(found.recipients), about=draft.about)
    body = _message(context.texts, draft)
    return f"{body[: MESSAGE_LIMIT - len(note) - 2]}\n\n{note}"


async def _preview(update: Update, context: BotContext, draft: Draft, query: Any = None) -> None:
    """Show the message and who it goes to, with Send (a coordinator) or Send to the
    coordinators (a peer researcher), and Cancel."""
    texts = context.texts
    coordinator = role_here(update, context) >= Role.COORDINATOR
    text = await _preview_text(
        context, draft, "update.preview" if coordinator else "update.preview_for_team"
    )
    draft.step = READY
    send = texts("update.send" if coordinator else "update.send_to_team")
    keyboard = InlineKeyboardMarkup([[_button(send, "s"), _button(texts("update.cancel"), "x")]])
    if query is not None:
        await _edit(query, text, keyboard)
    else:
        await context.bot.send_message(chat_id_of(update), text, reply_markup=keyboard)


async def _hand_over(update: Update, context: BotContext, draft: Draft, query: Any) -> None:
    """A peer researcher's finished draft: to the coordinators, who send it (or not)."""
    texts, services = context.texts, context.services
    number = await handovers.hand_over(
        context.db, "update", _stored(draft), chat_id_of(update), services.clock.now()
    )
    preview = await _preview_text(context, draft, "update.drafted_note")
    text = f"{texts('update.drafted')}\n\n{preview}"[:MESSAGE_LIMIT]
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts("update.send"), callback_data=Button.DRAFTED.data(number, "s")
                ),
                InlineKeyboardButton(
                    texts("update.discard"), callback_data=Button.DRAFTED.data(number, "x")
                ),
            ]
        ]
    )
    shown = 0
    for chat in team_chats(context.settings, Role.COORDINATOR):
        try:
            await context.bot.send_message(chat, text, reply_markup=keyboard)
            shown += 1
        except TelegramError as exc:
            log.warning("an update draft was not shown to a coordinator: %s", exc.message)
    await audit.record(
        context.db,
        actor_of(update),
        "update.draft",
        True,
        services.clock.now(),
        detail=f"draft {number}",
    )
    if not shown:
        await handovers.take(context.db, "update", number)
    await _edit(query, texts("update.handed_over" if shown else "update.no_coordinators"))


@team_only(Button.DRAFTED)
async def on_drafted(update: Update, context: BotContext) -> None:
    """``updp:<draft id>:<s|x>``: a coordinator sends a peer researcher's draft, or drops it."""
    query = update.callback_query
    assert query is not None
    texts = context.texts
    parsed = parse(query.data)
    args = parsed.args if parsed else ()
    drafted = None
    if len(args) == 2 and args[1] in ("s", "x"):
        # Taken first, in one statement: a second press (or worker) finds nothing.
        kept = await handovers.take(context.db, "update", args[0])
        drafted = Drafted(_restored(kept.draft), kept.author_chat) if kept else None
    if drafted is None:
        await query.answer(texts("update.drafted_gone"))
        return
    await query.answer()
    if args[1] == "x":
        await _edit(query, texts("update.discarded"))
        await _tell_author(context, drafted, texts("update.author_discarded"))
        return
    sent, contributors = await _send(update, context, drafted.draft, query)
    await _tell_author(
        context, drafted, texts("update.author_sent", reached=sent, contributors=contributors)
    )


async def _tell_author(context: BotContext, drafted: Drafted, text: str) -> None:
    try:
        await context.bot.send_message(drafted.author_chat, text)
    except TelegramError as exc:
        log.warning("could not tell a peer researcher about their draft: %s", exc.message)


async def _send(update: Update, context: BotContext, draft: Draft, query: Any) -> tuple[int, int]:
    """Store and deliver the update; how many it reached, of how many contributors."""
    texts, services = context.texts, context.services
    assert draft.link is not None
    now = services.clock.now()
    published = await you_said.publish(
        context.db,
        author=actor_of(update),
        link=draft.link,
        text="\n\n".join(draft.parts),
        message=lambda language: _message(context.services.texts_in(language), draft),
        consent_version=context.settings.consent_versions,
        now=now,
    )
    await audit.record(
        context.db, actor_of(update), "update.send", True, now, detail=f"update {published.id}"
    )
    await _edit(query, texts("update.sending", people=published.queued))
    await outreach.tick(context.application)  # deliver now (each message at most once)
    sent, waiting = await you_said.progress(context.db, published.id)
    reply = texts("update.sent", reached=sent, contributors=published.contributors)
    if waiting:
        reply += "\n" + texts("update.waiting", waiting=waiting)
    await context.bot.send_message(chat_id_of(update), reply)
    return sent, published.contributors


def _in_chat(update: Update, context: BotContext, text: str) -> str:
    """In a group the bot only sees replies to it (privacy mode): say so there."""
    chat = update.effective_chat
    if chat is not None and chat.type != "private":
        return f"{text}\n{context.texts('update.in_group')}"
    return text


def _checkin_at(checkins: list[CheckIn], index: str) -> CheckIn | None:
    if not index.isdigit() or int(index) >= len(checkins):
        return None
    return checkins[int(index)]


def _label(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"


async def _edit(query: Any, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    try:
        await query.edit_message_text(text[:MESSAGE_LIMIT], reply_markup=keyboard)
    except BadRequest:
        await query.message.reply_text(text[:MESSAGE_LIMIT], reply_markup=keyboard)
