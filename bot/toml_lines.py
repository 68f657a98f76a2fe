"""Find the line of each key in a TOML file, and say what a TOML syntax error means.

``tomllib`` gives values but no positions, so this scans the text once: table headers, arrays of
tables, ``key = value`` lines, and inside values the entries of arrays and the keys of inline
tables (``schedule = [{ kind = "weekly" }, ...]`` over several lines), skipping strings and
comments. It only has to be good enough to point a coordinator at the right line; a path it
does not know falls back to its nearest known parent.

:func:`syntax_advice` turns tomllib's messages ("Invalid value", "Cannot overwrite a value")
into what to do about them, for people who have never heard of TOML.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from dataclasses import dataclass, field

Path = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(#.*)?$")
_BARE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'""")
_WHITESPACE = " \t\r"


def _unquote(part: str) -> str:
    if part.startswith('"'):
        try:
            return str(tomllib.loads(f"k = {part}")["k"])
        except tomllib.TOMLDecodeError:
            return part.strip('"')
    return part.strip("'")


@dataclass
class _Scan:
    """Where things are in one TOML text (which may be cut short or invalid)."""

    text: str
    starts: list[int] = field(default_factory=list)
    # Every key, header and array entry, in file order: (path, 1-based line).
    entries: list[tuple[Path, int]] = field(default_factory=list)
    # The path each statement on a line sets: a key's full path, or a header's table.
    statements: dict[int, Path] = field(default_factory=dict)
    # The line where a string starts that the text never closes.
    unclosed_string: int | None = None
    pos: int = 0

    def __post_init__(self) -> None:
        self.starts = [0] + [i + 1 for i, char in enumerate(self.text) if char == "\n"]

    def line(self, pos: int | None = None) -> int:
        return bisect.bisect_right(self.starts, self.pos if pos is None else pos)

    def at(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces, comments and (if ``newlines``) line breaks."""
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in _WHITESPACE or (newlines and char == "\n"):
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def to_line_end(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end + 1

    def key(self) -> list[str]:
        """A (dotted) key at the current position; empty if there is none."""
        parts: list[str] = []
        while True:
            self.skip_blank(newlines=False)
            match = _KEY_PART.match(self.text, self.pos)
            if not match:
                return parts
            parts.append(_unquote(match.group()))
            self.pos = match.end()
            self.skip_blank(newlines=False)
            if self.at() != ".":
                return parts
            self.pos += 1

    def string(self) -> None:
        """Skip a string starting at the current position."""
        start = self.pos
        self.pos, closed = _skip_string(self.text, self.pos)
        if not closed:
            self.unclosed_string = self.line(start)

    def value(self, path: Path) -> None:
        """Skip a value, recording its array entries and inline-table keys under ``path``."""
        char = self.at()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.pos += 1
            index = 0
            while self.pos < len(self.text):
                self.skip_blank(newlines=True)
                if self.at() in ("]", ""):
                    self.pos += 1
                    return
                before = self.pos
                self.entries.append(((*path, index), self.line()))
                self.value((*path, index))
                self.skip_blank(newlines=True)
                if self.at() == ",":
                    self.pos += 1
                    index += 1
                elif self.pos == before:
                    return  # not TOML: stop rather than loop
        elif char == "{":
            self.pos += 1
            while self.pos < len(self.text):
                self.skip_blank(newlines=False)
                if self.at() == "}":
                    self.pos += 1
                    return
                if self.at() in ("\n", ""):
                    return
                line = self.line()
                parts = self.key()
                self.skip_blank(newlines=False)
                if not parts or self.at() != "=":
                    return
                self.pos += 1
                self.skip_blank(newlines=False)
                self.entries.append(((*path, *parts), line))
                self.value((*path, *parts))
                self.skip_blank(newlines=False)
                if self.at() == ",":
                    self.pos += 1
        else:
            match = re.compile(r"[^,\]}#\n]*").match(self.text, self.pos)
            assert match is not None
            self.pos = max(match.end(), self.pos + 1)


def _skip_string(text: str, pos: int) -> tuple[int, bool]:
    """The end of the string that starts at ``pos``, and whether it is closed."""
    for quote in ('"""', "'''"):
        if text.startswith(quote, pos):
            index = pos + 3
            while index < len(text):
                if quote == '"""' and text[index] == "\\":
                    index += 2
                elif text.startswith(quote, index):
                    index += 3
                    while index < len(text) and text[index] == quote[0]:
                        index += 1  # up to two quotes may end the text itself
                    return min(index, len(text)), True
                else:
                    index += 1
            return len(text), False
    quote = text[pos]
    index = pos + 1
    while index < len(text) and text[index] != "\n":
        if quote == '"' and text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index + 1, True
        index += 1
    return min(index, len(text)), False


def _scan(text: str) -> _Scan:
    # Only "\n" ends a line in TOML (as in tomllib's own line numbers); str.splitlines() would
    # also split at characters a string may hold, such as U+2028 or \x85.
    scan = _Scan(text)
    table: Path = ()
    array_counts: dict[Path, int] = {}
    while True:
        scan.skip_blank(newlines=True)
        if scan.pos >= len(text):
            return scan
        line_number = scan.line()
        line = text[scan.starts[line_number - 1] :].split("\n", 1)[0]
        header = _HEADER.match(line) if scan.at() == "[" else None
        if header:
            parts = [_unquote(part) for part in _KEY_PART.findall(header.group(2))]
            resolved: list[str | int] = []
            for depth, part in enumerate(parts):
                resolved.append(part)
                prefix = tuple(resolved)
                is_last = depth == len(parts) - 1
                if is_last and header.group(1) == "[[":
                    scan.statements[line_number] = prefix
                    count = array_counts.get(prefix, -1) + 1
                    array_counts[prefix] = count
                    resolved.append(count)
                elif not is_last and prefix in array_counts:
                    resolved.append(array_counts[prefix])
            table = tuple(resolved)
            scan.statements.setdefault(line_number, table)
            scan.entries.append((table, line_number))
            scan.to_line_end()
            continue
        parts = scan.key()
        scan.skip_blank(newlines=False)
        if not parts or scan.at() != "=":
            scan.to_line_end()
            continue
        scan.pos += 1
        scan.skip_blank(newlines=False)
        path = (*table, *parts)
        scan.statements[line_number] = path
        scan.entries.append((path, line_number))
        scan.value(path)
        scan.to_line_end()


def key_lines(text: str) -> dict[Path, int]:
    """Map each key path (with array indexes) to its 1-based line number."""
    found: dict[Path, int] = {}
    for path, line in _scan(text).entries:
        found.setdefault(path, line)
    return found


def line_of(lines: dict[Path, int], path: Path) -> int:
    """The line of ``path`` or of its nearest known parent (1 when nothing is known)."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


# ---------------------------------------------------------------------------------------------
# Syntax errors.

_AT = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")
_CURLY = "“”‘’„«»"


def _last_line(text: str) -> int:
    return max(1, len(text.rstrip("\n").split("\n")))


def _open_brackets(text: str, end: int) -> list[tuple[str, int]]:
    """Each ``[`` or ``{`` of a value still open at ``end``, and its offset, innermost last."""
    stack: list[tuple[str, int]] = []
    in_value = False
    index = 0
    while index < end:
        char = text[index]
        if char == "\n" and not stack:
            in_value = False
        elif char == "#":
            newline = text.find("\n", index)
            index = end if newline < 0 else newline
            continue
        elif char in "\"'":
            index, _closed = _skip_string(text, index)
            continue
        elif char == "=":
            in_value = True
        elif char in "[{" and (in_value or stack):
            stack.append((char, index))
        elif char in "]}" and stack:
            stack.pop()
        index += 1
    return stack


def _key_and_value(line: str) -> tuple[str, str] | None:
    """The last part of the key and the raw value of a ``key = value`` line."""
    match = re.match(
        r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=\s*(.*)$""",
        line,
    )
    if not match:
        return None
    key = _unquote(_KEY_PART.findall(match.group(1))[-1])
    return (key if _BARE.fullmatch(key) else f'"{key}"'), match.group(2)


def _quoted(text: str) -> str:
    text = text.strip().strip(_CURLY + "\"'").strip()
    if len(text) > 40 or not text:
        text = "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _one_text(value: str) -> str:
    """``"Riverside" Pathways`` or ``'it's'`` as one text in double quotes."""
    quote = value[0]
    if len(value) > 1 and value[-1] == quote:
        inner = value[1:-1]
        return _quoted(inner) if '"' not in inner else '"..."'
    return _quoted(value.replace(quote, ""))


def _without_comment(value: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", value).strip()


def _token_at(line: str, column: int) -> str:
    """The unquoted entry of a list that starts at ``column``."""
    match = re.compile(r"[^,\]}#]+").match(line, max(column - 1, 0))
    return match.group().strip().strip("\"'") if match else ""


def syntax_advice(text: str, error: tomllib.TOMLDecodeError) -> tuple[int, str]:
    """The line of a TOML syntax error, and what to do about it in plain words."""
    message = str(error)
    found = _AT.search(message)
    reason = message[: found.start()] if found else message
    if found and found.group(1):
        line, column = int(found.group(1)), int(found.group(2))
    else:
        line, column = _last_line(text), 1
    lines = text.split("\n")
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    offset = sum(len(part) + 1 for part in lines[: line - 1]) + column - 1
    key_value = _key_and_value(here)
    key, value = key_value if key_value else ("name", "")
    value_column = len(here) - len(value) + 1 if key_value else 0
    advice = _advice(text, reason, line, column, here, offset, key, value, value_column)
    if isinstance(advice, tuple):
        return advice
    return line, advice or f"not valid TOML: {reason}"


def _advice(
    text: str,
    reason: str,
    line: int,
    column: int,
    here: str,
    offset: int,
    key: str,
    value: str,
    value_column: int,
) -> str | tuple[int, str] | None:
    """Plain words for one of tomllib's messages (None for one it does not know)."""
    if reason.startswith(
        ("Cannot overwrite", "Cannot declare", "Cannot mutate", "Cannot redefine", "Duplicate")
    ):
        return _twice(text, reason, line, here)
    if reason in ("Invalid value", "Expected newline or end of document after a statement"):
        above = [at for at in _open_brackets(text, offset) if _line_at(text, at[1]) < line]
        if above and (_key_and_value(here) is not None or here.lstrip().startswith("[")):
            # A [header] or key = value line inside a list or table: the one above is not closed.
            return _unclosed(text, above[-1])
        return _bad_value(reason, column, here, key, value, value_column)
    if reason.startswith(("Expected ']' at the end of a table", "Expected ']]'")):
        return _bad_header(reason, here)
    if reason in ("Illegal character '\\n'", "Found invalid character '\\n'"):
        quote = "'" if reason.startswith("Found") else '"'
        return (
            f"this text has no closing quote; end it with {quote} on the same line, or use "
            f"{quote * 3} at both ends for text over several lines"
        )
    if reason.startswith(("Illegal character", "Found invalid character")):
        return (
            f"this line has a character that is not allowed here ({reason.rsplit(' ', 1)[1]}); "
            "delete it"
        )
    if reason == "Unterminated string" or reason.startswith("Expected \"'"):
        start = _scan(text).unclosed_string or line
        opening = text.split("\n")[start - 1]
        quote = next((q for q in ('"""', "'''", '"', "'") if q in opening), '"')
        return start, f"this text starts with {quote} but never ends; add {quote} at its end"
    if reason in (
        "Unclosed array",
        "Unclosed inline table",
        "Invalid initial character for a key part",
    ):
        opened = _open_brackets(text, offset)
        if opened:
            return _unclosed(text, opened[-1])
        if here.lstrip().startswith("["):
            return "a table header needs a name, like [project]"
        return _KEY_CHARACTERS
    if reason == "Expected '=' after a key in a key/value pair":
        return _no_equals(here, column)
    if reason == "Invalid statement":
        return _KEY_CHARACTERS if re.match(r"^\s*[^=\s\[#]+\s*=", here) else _STATEMENT
    if reason in ("Unescaped '\\' in a string", "Invalid hex value") or "Unicode scalar" in reason:
        return (
            'a \\ inside "double quotes" starts a special character; write \\\\ for a '
            "backslash, or put the text in 'single quotes'"
        )
    if reason == "Invalid date or datetime":
        return "this looks like a date or time but is not one; put it in quotes if it is text"
    return None


_KEY_CHARACTERS = (
    "a key can use only letters a-z and A-Z, digits, - and _; "
    'put any other key in quotes, like "harm to others" = [...]'
)
_STATEMENT = (
    'each line must be a setting (key = value, like name = "Riverside"), a [table] header, '
    "or a comment starting with #"
)


def _twice(text: str, reason: str, line: int, here: str) -> str:
    """A key or table set a second time, and where the first one is."""
    if reason.startswith("Duplicate inline table key"):
        return "this key is set twice inside the same { }; keep one of them"
    scan = _scan("\n".join(text.split("\n")[:line]))
    path = scan.statements.get(line)
    earlier = next((at for entry, at in scan.entries if entry == path and at < line), None)
    if path is None or earlier is None:
        if here.lstrip().startswith("["):
            return (
                "this header clashes with one above: a [table] once, and [[list]] for each "
                "entry of a list; check the spelling of the headers above"
            )
        return "this key is already set above; each key can be set only once in a table"
    if here.lstrip().startswith("["):
        if text.split("\n")[earlier - 1].lstrip().startswith("["):
            return (
                f"this table is already started on line {earlier}; "
                "put all its settings under that one header"
            )
        return f"this is already set on line {earlier}; write it in one place only"
    return f"this key is already set on line {earlier}; keep one of them"


def _bad_value(reason: str, column: int, here: str, key: str, value: str, value_column: int) -> str:
    """A value TOML cannot read: most often text without quotes."""
    stripped = _without_comment(value)
    first = stripped[:1]
    at_value = column == value_column
    if reason == "Invalid value" and at_value and not stripped:
        return f'there is no value after =; write one, like {key} = "..."'
    char = here[column - 1] if 0 < column <= len(here) else ""
    after = _without_comment(here[column:])
    header = here.strip()
    if header.startswith("[") and not header.startswith("[[") and header.endswith("]]"):
        name = header.strip("[]")
        return f"a header for an entry of a list has two brackets on each side, like [[{name}]]"
    if (reason == "Invalid value" and char and char in "=}]),:;") or (
        reason != "Invalid value"
        and char
        and not char.isalnum()
        and (char not in "\"'" or not after)
        and not any(c.isalnum() for c in after)
    ):
        return f"there is a stray {char} here; delete it"
    if here.lstrip().startswith("[") and not value:
        return "start the settings of a table on the line after its [header]"
    token = stripped if at_value else _token_at(here, column)
    if (token and token[0] in _CURLY) or (first and first in _CURLY):
        return (
            "these are curly quotes, which word processors make; use straight quotes "
            f'("), like {key} = {_quoted(stripped)}'
        )
    if token.lower() in ("true", "false", "yes", "no") and token not in ("true", "false"):
        word = "true" if token.lower() in ("true", "yes") else "false"
        return f"true and false are written in small letters, like {key} = {word}"
    if first and first in "\"'":
        return (
            "there is more on this line after the closing quote; put the whole text inside "
            f"one pair of quotes, like {key} = {_one_text(stripped)}"
        )
    quotes = "a text value needs quotes on both sides, like "
    if reason == "Invalid value" and not at_value and token:
        return quotes + _quoted(token)
    if first and first not in "[{":
        number = re.fullmatch(r"[-+]?[0-9_.eE]+", stripped.split()[0])
        if reason == "Invalid value" or not number:
            return quotes + f"{key} = {_quoted(stripped)}"
    return "put each setting on its own line; anything after a value must start with #"


def _bad_header(reason: str, here: str) -> str:
    """A [table] or [[list]] header that does not end right."""
    name = re.split(r"[\]#]", here.strip().lstrip("["), maxsplit=1)[0].strip()
    if "=" in name:
        return (
            "this line starts with [, which begins a [table] header; remove the [ if it is "
            "a setting"
        )
    if reason.startswith("Expected ']]'"):
        return f"this header needs ]] at its end, like [[{name or 'checkins'}]]"
    return f"a table header needs ] at its end, like [{name or 'project'}]"


def _no_equals(here: str, column: int) -> str:
    """A key not followed by =."""
    before, rest = here[: column - 1], here[column - 1 :]
    key = re.search(r"([A-Za-z0-9_-]+)\s*$", before)
    if rest.startswith(":") and key:
        return f'write = between a key and its value, not :, like {key.group(1)} = "..."'
    if key and before.endswith((" ", "\t")) and re.match(r"[A-Za-z0-9_-]+\s*=", rest):
        return "a key cannot have spaces; use _ instead (like my_key) or put it in quotes"
    example = _first_value(rest)
    if key and example:
        return f"write = between the key and its value, like {key.group(1)} = {example}"
    if "=" in rest:
        return _KEY_CHARACTERS
    return _STATEMENT


def _first_value(text: str) -> str | None:
    """The text, number or list at the start of ``text``, if it is complete there."""
    if text.startswith(('"""', "'''")):
        return '"""..."""'
    match = re.match(r""""(?:[^"\\]|\\.)*"|'[^']*'|-?[0-9][0-9_.:eE+-]*|\[[^\]]*\]""", text)
    if not match:
        return None
    return match.group() if len(match.group()) <= 40 else '"..."'


def _unclosed(text: str, opened: tuple[str, int]) -> tuple[int, str]:
    """A list or inline table that is not closed, at the line where it starts."""
    if opened[0] == "{":
        return (
            _line_at(text, opened[1]),
            "a table in { } must be on one line, with a comma between its entries and "
            '} at its end, like { kind = "weekly", time = "10:00" }',
        )
    return (
        _line_at(text, opened[1]),
        'this list needs ] at its end and a comma between its entries, like ["mon", "thu"]',
    )


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
