"""The bot's own texts for translators: ``bot/locales/<locale>.toml`` to and from gettext PO.

Translators' tools (Poedit, Weblate, Crowdin, Lokalize) read PO files, not our TOML. So
``everystage translations bot-export`` writes one PO message per key: ``msgctxt`` is
``section.key``, ``msgid`` the English text, ``msgstr`` the translation (empty where there is
none yet), with the English file's comments and the ``{placeholders}`` to keep as notes for the
translator. ``bot-import`` reads it back and writes the locale's TOML. An empty or fuzzy
``msgstr`` counts as not translated: the key is left out, and the bot reads it in English
(:meth:`bot.texts.Texts.load`). A translation whose placeholders differ from the English is
refused, since the bot could not fill it in.

The TOML is written here rather than with a library: every value is a string in a
``[section]``, so a writer is a few lines, needs no new dependency, keeps the English file's
order and comments, and checks its own output by reading it back with :mod:`tomllib`.
"""

from __future__ import annotations

import io
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.texts import BASE, LOCALES

Strings = dict[str, dict[str, str]]

# A locale name as in the file names: "pl", "ar", "pt_BR", "sr-Latn".
_LOCALE_NAME = re.compile(r"^[a-z]{2,3}(?:[_-][A-Za-z0-9]{2,8})*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_HEADER = re.compile(r"^\[([A-Za-z0-9_-]+)\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*=")
# Values with this many line breaks or more are written as """multi-line""" strings.
_MULTILINE_FROM = 3


def check_locale_name(locale: str) -> str:
    """The locale name if it is one (it becomes a file name); otherwise ValueError."""
    if not _LOCALE_NAME.match(locale):
        raise ValueError(f"'{locale}' is not a locale name like pl, ro, ar or pt_BR")
    return locale


def locale_path(locale: str, directory: Path = LOCALES) -> Path:
    return directory / f"{check_locale_name(locale)}.toml"


def read_strings(path: Path) -> Strings:
    """A locale file's strings; an empty dict if there is no file yet."""
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def english(directory: Path = LOCALES) -> Strings:
    return read_strings(directory / f"{BASE}.toml")


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a text fills in: "{n} of {total}" -> {"n", "total"}."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def keys(strings: Strings) -> list[str]:
    """Every ``section.key``, in file order."""
    return [f"{section}.{key}" for section, names in strings.items() for key in names]


def coverage(translated: Strings, base: Strings) -> tuple[int, int]:
    """(keys translated, keys in English): only keys English has count."""
    done = sum(1 for s, names in base.items() for k in names if k in translated.get(s, {}))
    return done, len(keys(base))


def missing(translated: Strings, base: Strings) -> list[str]:
    """The English keys a translation does not have yet."""
    return [
        f"{s}.{k}" for s, names in base.items() for k in names if k not in translated.get(s, {})
    ]


# ---------------------------------------------------------------------------------------------
# Comments in the English file: notes for translators.


@dataclass
class Notes:
    """The comment lines written above each ``[section]`` and each key of a TOML file."""

    header: list[str] = field(default_factory=list)  # the file's opening comment block
    sections: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)  # "section.key" -> lines


def read_notes(path: Path) -> Notes:
    """Comments directly above a header or key line (without "# "), and the file's header.

    A plain line scan, good for files of ``[section]`` and ``key = "string"`` lines such as
    the locale files: lines inside a \"\"\"multi-line string\"\"\" are skipped.
    """
    notes = Notes()
    if not path.exists():
        return notes
    pending: list[str] = []
    section = ""
    in_string = False
    at_start = True
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if in_string:
            in_string = line.count('"""') % 2 == 0
            continue
        if line.startswith("#"):
            pending.append(line[1:].removeprefix(" "))
            continue
        if not line:
            if at_start and pending:
                notes.header, at_start = pending, False
            pending = []
            continue
        at_start = False
        if header := _HEADER.match(line):
            section = header.group(1)
            if pending:
                notes.sections[section] = pending
        elif key := _KEY_LINE.match(line):
            if pending:
                notes.keys[f"{section}.{key.group(1)}"] = pending
            in_string = line.count('"""') % 2 == 1
        pending = []
    return notes


# ---------------------------------------------------------------------------------------------
# Writing the TOML.


def _basic(value: str, multiline: bool) -> str:
    out = []
    for index, char in enumerate(value):
        following = value[index + 1 : index + 2]
        if char == "\\":
            out.append("\\\\")
        elif char == '"' and (not multiline or following in ('"', "")):
            # In a multi-line string a quote needs escaping only where it could end the string.
            out.append('\\"')
        elif char == "\n":
            out.append("\n" if multiline else "\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def toml_string(value: str) -> str:
    """A TOML basic string; \"\"\"multi-line\"\"\" when the text has several line breaks."""
    if value.count("\n") >= _MULTILINE_FROM:
        # A line break right after the opening quotes is not part of the value: add one when
        # the value starts with its own.
        opening = '"""\n' if value.startswith("\n") else '"""'
        return f'{opening}{_basic(value, multiline=True)}"""'
    return f'"{_basic(value, multiline=False)}"'


def dumps(strings: Strings, order: Strings, notes: Notes, header: list[str]) -> str:
    """A locale file: ``header`` comments, then sections and keys in ``order`` (the English
    file's) with its comments, then anything ``order`` lacks. Checked by reading it back."""
    lines = [f"# {text}".rstrip() for text in header]
    sections = list(order) + [s for s in strings if s not in order]
    for section in sections:
        names = strings.get(section, {})
        if not names:
            continue
        if not _BARE_KEY.match(section):
            raise ValueError(f"section name {section!r} is not a plain TOML key")
        lines.append("")
        lines += [f"# {text}".rstrip() for text in notes.sections.get(section, [])]
        lines.append(f"[{section}]")
        known = order.get(section, {})
        wanted = list(known) + [key for key in names if key not in known]
        for key in wanted:
            if key not in names:
                continue
            if not _BARE_KEY.match(key):
                raise ValueError(f"key name {key!r} is not a plain TOML key")
            lines += [f"# {text}".rstrip() for text in notes.keys.get(f"{section}.{key}", [])]
            lines.append(f"{key} = {toml_string(names[key])}")
    text = "\n".join(lines).lstrip("\n") + "\n"
    if tomllib.loads(text) != {s: n for s, n in strings.items() if n}:
        raise AssertionError("the TOML written does not read back as the same strings")
    return text


def default_header(locale: str) -> list[str]:
    return [
        f"{language_name(locale)} ({locale}): everything the bot says, translated from en.toml.",
        "Written by `everystage translations bot-import` from a PO file. Until a native speaker",
        "has reviewed it, treat it as a draft. Keep each {placeholder}, emoji and /command as is.",
    ]


def language_name(locale: str) -> str:
    try:
        return Locale.parse(locale.replace("-", "_")).get_display_name("en") or locale
    except (UnknownLocaleError, ValueError):
        return locale


# ---------------------------------------------------------------------------------------------
# PO catalogs.


def _babel_locale(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def catalog(locale: str, translated: Strings, base: Strings, notes: Notes) -> Catalog:
    """One message per English key: context ``section.key``, id English, string the
    translation or empty."""
    po = Catalog(
        locale=_babel_locale(locale),
        project="Everystage",
        header_comment=(
            f"# {language_name(locale)} ({locale}): the Everystage bot's texts.\n"
            "# Keep every {placeholder} as it is (its name stays in English),\n"
            "# and the emoji and /commands. Leave a message empty if unsure:\n"
            "# the bot then says it in English."
        ),
        fuzzy=False,
    )
    for section, names in base.items():
        for key, text in names.items():
            comments = notes.sections.get(section, []) + notes.keys.get(f"{section}.{key}", [])
            names_used = sorted(placeholders(text))
            if names_used:
                kept = ", ".join(f"{{{n}}}" for n in names_used)
                comments = [*comments, f"Keep as they are: {kept}"]
            po.add(
                text,
                translated.get(section, {}).get(key, ""),
                auto_comments=comments,
                flags=("python-brace-format",) if names_used else (),
                context=f"{section}.{key}",
            )
    return po


def export_po(locale: str, directory: Path = LOCALES) -> bytes:
    """The PO file for ``locale`` (all empty for a language with no file yet)."""
    base_path = directory / f"{BASE}.toml"
    po = catalog(
        locale,
        read_strings(locale_path(locale, directory)),
        read_strings(base_path),
        read_notes(base_path),
    )
    out = io.BytesIO()
    write_po(out, po, width=76, sort_output=False, include_previous=False)
    return out.getvalue()


@dataclass
class Imported:
    strings: Strings
    problems: list[str]  # the file is not written while there are any
    notes: list[str]  # worth knowing, not in the way


def from_po(handle: BinaryIO, base: Strings) -> Imported:
    """The translated strings of a PO file, in the English file's sections."""
    po = read_po(handle)
    strings: Strings = {}
    problems: list[str] = []
    notes: list[str] = []
    for message in po:
        if not message.id:  # the header
            continue
        where = message.context or ""
        section, _, key = where.partition(".")
        english_text = base.get(section, {}).get(key)
        if english_text is None:
            notes.append(f"{where or repr(message.id)}: not a key of en.toml any more, skipped")
            continue
        text = message.string
        if isinstance(text, tuple | list):  # plural forms: we have none
            text = text[0] if text else ""
        if not text or message.fuzzy:
            continue
        if message.id != english_text:
            notes.append(f"{where}: the English has changed since this file was exported")
        try:
            got = placeholders(text)
        except ValueError as exc:
            problems.append(f"{where}: cannot be filled in ({exc}); check the {{ and }}")
            continue
        wanted = placeholders(english_text)
        if wanted != got:
            detail = []
            if wanted - got:
                detail.append("missing " + ", ".join(f"{{{n}}}" for n in sorted(wanted - got)))
            if got - wanted:
                detail.append("unknown " + ", ".join(f"{{{n}}}" for n in sorted(got - wanted)))
            problems.append(f"{where}: placeholders differ from the English ({'; '.join(detail)})")
            continue
        try:
            text.format(**dict.fromkeys(got, "x"))
        except (ValueError, IndexError, KeyError) as exc:
            problems.append(f"{where}: cannot be filled in ({exc}); check the {{ and }}")
            continue
        strings.setdefault(section, {})[key] = text
    return Imported(strings, problems, notes)


def import_po(
    locale: str, handle: BinaryIO, output: Path | None = None, directory: Path = LOCALES
) -> tuple[Path, Imported]:
    """Write ``locale``'s TOML from a PO file, unless it has problems (then nothing is written).

    The file keeps its opening comment (or the shipped locale file's) if it has one; the
    English file's comments go with each section and key.
    """
    base_path = directory / f"{BASE}.toml"
    base = read_strings(base_path)
    result = from_po(handle, base)
    path = output or locale_path(locale, directory)
    if result.problems:
        return path, result
    shipped = locale_path(locale, directory)
    header = read_notes(path if path.exists() else shipped).header
    text = dumps(result.strings, base, read_notes(base_path), header or default_header(locale))
    path.write_text(text, encoding="utf-8")
    return path, result
