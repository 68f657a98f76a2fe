"""Sending a question's recording (``audio = ...``) as a voice note after its text.

The text is what moves the check-in on (its delivery is recorded, and re-sent until it
arrives); the recording is extra, for people who would rather listen than read. So it goes
only once the text has arrived, and a failure to send it is logged and forgotten: it never
holds the question up. It is sent once per question of a check-in (not again with a hint, a
redraw or a re-shown question), remembered in memory: after a restart a question shown again
may bring its recording once more, which is the lesser harm than a migration for it.

The bytes are uploaded the first time and Telegram's file_id is used from then on (per file's
content, so a changed file is uploaded again after /reload).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from telegram import InputFile
from telegram.error import TelegramError

from bot import delivery
from bot.delivery import Outcome, outcome_of
from bot.voice.prompts import PromptAudio

log = logging.getLogger(__name__)

REMEMBER = 10_000  # (check-in session, question) pairs remembered as sent
# One quick retry for a request that certainly did not go; never one that may have (a second
# copy of a recording is worse than none), and no long flood waits before the next question.
BACKOFF = (0.5,)
MAX_RETRY_AFTER = 2.0


class AudioSender:
    """Sends questions' recordings; remembers what went to whom and Telegram's file_ids."""

    def __init__(self, remember: int = REMEMBER) -> None:
        self.remember = remember
        self.file_ids: dict[str, str] = {}  # PromptAudio.digest -> Telegram's file_id
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def send(self, bot: Any, chat_id: int, audio: PromptAudio, key: tuple[str, str]) -> bool:
        """Send ``audio`` to ``chat_id`` unless ``key`` (session, question) already had it;
        True if it went now. Never raises a Telegram error."""
        if key in self._sent:
            return False
        self._sent[key] = None  # before the request: a second caller meanwhile sends nothing
        while len(self._sent) > self.remember:
            self._sent.popitem(last=False)
        file_id = self.file_ids.get(audio.digest)
        voice: InputFile | str = file_id or InputFile(audio.data, filename="question.ogg")
        try:
            message = await delivery.with_retries(
                lambda: bot.send_voice(chat_id, voice, duration=max(1, round(audio.seconds))),
                backoff=BACKOFF,
                max_uncertain=0,
                max_retry_after=MAX_RETRY_AFTER,
                what="a question's audio",
            )
        except TelegramError as exc:
            outcome = outcome_of(exc)
            if outcome is not Outcome.UNCERTAIN:
                self._sent.pop(key, None)  # it did not arrive: the next showing may send it
            if file_id is not None and outcome is Outcome.REFUSED:
                self.file_ids.pop(audio.digest, None)  # a file_id Telegram no longer knows
            log.info("a question's audio was not sent (%s, %s)", type(exc).__name__, outcome)
            return False
        if message is not None and message.voice is not None:
            self.file_ids[audio.digest] = message.voice.file_id
        return True
