"""Take names, phone numbers, email addresses and @handles out of a quote.

Honest limits: this is pattern matching, not understanding. It catches email addresses,
@handles, web links, UK phone numbers (07..., 01/02/03..., +44...) and other international
numbers written with a +, and names introduced as "my name is X", "I'm X", "call me X",
"this is X", titles ("Mr Smith", "Dr Jones"), and capitalised words in the middle of a
sentence that are not on a short list of common words. It will miss a name written in lower
case, at the start of a sentence, or that is also a common word ("Hope", "Rose"), and it will
sometimes remove a place or a service name. Coordinators should read quotes before sharing a
digest beyond the team.
"""

from __future__ import annotations

import re

NAME = "[name]"
PHONE = "[phone]"
EMAIL = "[email]"
HANDLE = "[handle]"
LINK = "[link]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,}")
# +44 7700 900123, +1 (555) 123-4567, 07700 900123, 0161 496 0000, (020) 7946 0000, 999 is not.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?(?:\(0\)\s?)?\(?|\(?0)\d(?:[\s.()-]{0,2}\d){7,12}(?!\w)"
)
_WORD = r"[A-Z][a-z'’-]+(?:\s[A-Z][a-z'’-]+)?"
_INTRODUCED = re.compile(
    r"\b((?:[Mm]y name is|[Mm]y name's|I am|I'm|I’m|[Cc]all me|[Tt]his is|[Nn]amed|[Cc]alled)\s+)"
    rf"({_WORD})"
)
_TITLED = re.compile(r"\b((?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+)([A-Z][a-z'’-]+)")
# Capitalised words that are usually not names; extend it as quotes come in.
_COMMON = {
    "I",
    "I'm",
    "I’m",
    "I've",
    "I'd",
    "I'll",
    "OK",
    "Ok",
    "TV",
    "GP",
    "NHS",
    "A&E",
    "UK",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Christmas",
    "Easter",
    "English",
    "British",
    "Mr",
    "Mrs",
    "Ms",
    "Miss",
    "Mx",
    "Dr",
    "Prof",
    "God",
    "Mum",
    "Dad",
    "Riverside",
    "Universal",
    "Credit",
    "Council",
    "Jobcentre",
}
_CAPITALISED = re.compile(r"(?<![.!?:;\n]\s)(?<!^)\b[A-Z][a-z'’-]+\b")


def redact(text: str) -> str:
    """The text with personal details replaced by [name], [phone], [email], [handle], [link]."""
    text = _EMAIL.sub(EMAIL, text)
    text = _LINK.sub(LINK, text)
    text = _HANDLE.sub(HANDLE, text)
    text = _PHONE.sub(PHONE, text)
    text = _INTRODUCED.sub(lambda m: m.group(1) + NAME, text)
    text = _TITLED.sub(lambda m: m.group(1) + NAME, text)
    return _mid_sentence_names(text)


def _mid_sentence_names(text: str) -> str:
    out, last = [], 0
    for match in _CAPITALISED.finditer(text):
        word = match.group(0)
        before = text[: match.start()].rstrip()
        if not before or before[-1] in '.!?:;"“(' or word in _COMMON:
            continue
        out.append(text[last : match.start()] + NAME)
        last = match.end()
    out.append(text[last:])
    return "".join(out)
