"""What we heard: a phone-sized summary of everyone's answers to one check-in, for the people
who took part (bot/handlers/heard.py sends it).

Pure: the week's digest figures (bot/digest/content.py, small groups already hidden there) and
the locale's texts in, one message out. The digest's rules hold here too: an option chosen by
fewer than ``min_group_size`` people reads "fewer than 3", with the next smallest hidden too so
it cannot be worked out by subtraction, and a question fewer people answered shows no figures.
Quotes are only of people who agreed to be quoted, redacted as in the digest, without names.
"""

from __future__ import annotations

from bot.digest.content import Digest, QuestionFigures
from bot.texts import Texts

BAR_CELLS = 10
MAX_QUOTES = 3
MAX_CHARS = 4000  # inside Telegram's 4,096 for one message


def bar(share: float) -> str:
    """``share`` (0 to 100) as ten cells, filled to the nearest tenth: ▓▓▓▓░░░░░░."""
    filled = max(0, min(BAR_CELLS, round(share / 100 * BAR_CELLS)))
    return "▓" * filled + "░" * (BAR_CELLS - filled)


def people_of(digest: Digest, checkin_id: str) -> int | None:
    """How many people answered the check-in's questions (the most of any one), if shown."""
    shown = [
        q.people for q in digest.questions if q.checkin_id == checkin_id and q.people is not None
    ]
    return max(shown, default=None)


def _question(texts: Texts, q: QuestionFigures, k: int) -> list[str]:
    if q.hidden or not q.buckets:
        return [texts("heard.question_hidden", question=q.text, k=k)]
    lines = [texts("heard.question", question=q.text)]
    for b in q.buckets:
        if b.count is None or b.share is None:
            lines.append(texts("heard.option_hidden", option=b.label, k=k))
        else:
            lines.append(
                texts("heard.option", bar=bar(b.share), share=round(b.share), option=b.label)
            )
    return lines


def render(
    texts: Texts, digest: Digest, checkin_id: str, title: str, heading: str | None = None
) -> str | None:
    """The message for one check-in's week, or None when nothing can be shown (fewer than
    ``min_group_size`` people answered every question). ``heading``: the check-in's title in
    the reader's language (``title``, the project's default, finds its quotes)."""
    people = people_of(digest, checkin_id)
    if people is None:
        return None
    k = digest.min_group_size
    blocks = [texts("heard.title", title=heading or title, people=people)]
    for q in digest.questions:
        if q.checkin_id == checkin_id:
            blocks.append("\n".join(_question(texts, q, k)))
    quotes = [quote.text for quote in digest.quotes if quote.checkin_title == title]
    if quotes:
        said = [texts("heard.quote", quote=text) for text in quotes[:MAX_QUOTES]]
        blocks.append("\n".join([texts("heard.quotes"), *said]))
    footer = texts("heard.footer")
    message = "\n\n".join(blocks)
    if len(message) + len(footer) + 2 > MAX_CHARS:
        message = message[: MAX_CHARS - len(footer) - 3].rstrip() + "…"
    return f"{message}\n\n{footer}"
