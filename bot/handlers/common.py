"""Small helpers shared by the handlers."""

from __future__ import annotations

from typing import Any

from telegram import Message, Update
from telegram.ext import filters

from bot.keyboards import consent_keyboard
from bot.services import BotContext, services_of
from storage import participants
from storage.participants import Participant, Session

# New messages in private chats: where participants' commands and answers are handled.
PRIVATE_NEW = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE


class RepliesTo(filters.MessageFilter):
    """A message replying to one of the bot's own questions: one whose text begins as the
    locale's ``key`` does (up to its first ``{placeholder}``), in the current locale (after a
    /reload too). Decided before any database read; only such replies are taken, so anything
    else a person sends goes where it always goes."""

    def __init__(self, app: Any, key: str) -> None:
        super().__init__(name=f"replies to {key}")
        self._app, self._key = app, key

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        if replied is None or replied.from_user is None or not replied.from_user.is_bot:
            return False
        prefix = services_of(self._app).texts(self._key).split("{", 1)[0]
        return bool(replied.text and replied.text.startswith(prefix))


def chat_id_of(update: Update) -> int:
    """The chat the update came from (handlers here only see updates that have one)."""
    assert update.effective_chat is not None
    return update.effective_chat.id


async def show_consent(
    chat_id: int, context: BotContext, *, changed: bool = False, code: str | None = None
) -> None:
    """Send the welcome (or 'this changed') and the consent text with its three buttons.

    ``code`` is an invite code from ``/start <code>``, carried by the buttons until "Yes".
    """
    texts, settings = context.texts, context.settings
    opening = (
        texts("welcome.consent_changed")
        if changed
        else texts("welcome.new", project=settings.project.display_name)
    )
    offered = settings.project.offered
    several = len(offered) > 1  # then the language rides on the buttons, and the others show
    await context.bot.send_message(
        chat_id,
        f"{opening}\n\n{settings.consent_text(context.language).strip()}",
        reply_markup=consent_keyboard(
            texts,
            settings.consent.version,
            code=code,
            language=context.language if several else None,
            others=[o for o in offered if o != context.language] if several else (),
        ),
    )


async def consented(update: Update, context: BotContext) -> Participant | None:
    """The participant behind this update if they may answer now; otherwise say what to do.

    Before consent nothing is stored and they are pointed to /start; with an outdated consent
    version they are asked again; people who used /stop are ignored.
    """
    person = await participants.by_chat(context.db, chat_id_of(update))
    return person if await may_answer(update, context, person) else None


async def answering(
    update: Update, context: BotContext
) -> tuple[Participant, Session | None] | None:
    """Like :func:`consented`, with the open check-in read in the same query (hot path)."""
    person, session = await participants.with_session(context.db, chat_id_of(update))
    if not await may_answer(update, context, person) or person is None:
        return None
    return person, session


async def may_answer(update: Update, context: BotContext, person: Participant | None) -> bool:
    """Whether ``person`` (read with this update) may answer now; if not, say what to do."""
    chat_id = chat_id_of(update)
    if person is None:
        await context.bot.send_message(chat_id, context.texts("consent.needed"))
        return False
    if person.status == "stopped":
        return False
    if person.consent_version != context.settings.consent.version:
        await show_consent(chat_id, context, changed=True)
        return False
    return True
